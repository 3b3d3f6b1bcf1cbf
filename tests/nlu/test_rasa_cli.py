"""`nlu_components.rasa_cli`: Rasa's command line without the warnings known to be wrong for this project, and
with every other one."""

from __future__ import annotations

import json
import re

import yaml

from core.settings import PROJECT_ROOT
from nlu_components.rasa_cli import RESPONSES_UTTERED_BY_ACTIONS, third_party_module_re
from tests.nlu.support import run_in_rasa

SCRIPT = r'''
import json, logging, sys, tempfile, warnings
from pathlib import Path
import yaml

sys.argv = ["rasa", "train"]
from nlu_components.rasa_cli import quiet_warnings
quiet_warnings()
from rasa.utils.common import configure_logging_and_warnings
configure_logging_and_warnings(logging.INFO)  # what `rasa train` does first
from rasa.shared.importers.importer import TrainingDataImporter
from rasa.validator import Validator

def unused(domain):
    importer = TrainingDataImporter.load_from_dict(domain_path=str(domain), training_data_paths=["nlu_data"])
    with warnings.catch_warnings(record=True) as caught:
        Validator.from_importer(importer).verify_utterances_in_stories()
        for module in ("nlu_components.probe", "tensorflow.probe"):  # deprecations raised in those modules
            exec("import warnings; warnings.warn('deprecated in ' + __name__, DeprecationWarning)", {"__name__": module})
    return [str(w.message) for w in caught]

extra = yaml.safe_load(Path("domain.yml").read_text(encoding="utf-8"))
extra["responses"]["utter_nobody_says_this"] = [{"text": "?"}]
other = Path(tempfile.mkdtemp()) / "domain.yml"
other.write_text(yaml.safe_dump(extra, allow_unicode=True), encoding="utf-8")
print(json.dumps({"shipped": unused("domain.yml"), "extra": unused(other)}))
'''


def test_training_keeps_only_the_warnings_someone_can_act_on() -> None:
    proc = run_in_rasa(SCRIPT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    # The shipped domain: every response is uttered by a rule, a story or an action: no warning about them.
    assert [m for m in found["shipped"] if "is not used" in m] == []
    # A response nothing utters is still reported, and so are deprecations raised by this project's code.
    assert [m for m in found["extra"] if "is not used" in m] == [
        "The utterance 'utter_nobody_says_this' is not used in any story or rule."]
    assert [m for m in found["shipped"] if m.startswith("deprecated in")] == ["deprecated in nlu_components.probe"]


def test_each_filtered_response_is_uttered_by_an_action() -> None:
    """The list must not hide a response that nothing sends: each one is in the domain, unused by rules and
    stories, and uttered by a custom action or by Rasa's own actions."""
    from actions.kb import STATIC_FALLBACK_INTENTS

    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    dialogue = "".join(p.read_text(encoding="utf-8") for p in (PROJECT_ROOT / "nlu_data").glob("*.yml"))
    actions_code = "".join(p.read_text(encoding="utf-8") for p in (PROJECT_ROOT / "actions").glob("*.py"))
    by_rasa = {"utter_default"} | {f"utter_ask_{slot}" for form in domain["forms"].values()
                                   for slot in form["required_slots"]}
    for name in RESPONSES_UTTERED_BY_ACTIONS:
        assert name in domain["responses"], name
        assert not re.search(rf"\b{name}\b", dialogue), f"{name} is used by a rule or story: no need to filter it"
        uttered = (f'"{name}"' in actions_code or name in by_rasa
                   or name.removeprefix("utter_") in STATIC_FALLBACK_INTENTS)
        assert uttered, f"nothing utters {name}"


def test_deprecations_of_this_project_are_not_filtered() -> None:
    pattern = re.compile(third_party_module_re())
    assert pattern.match("tensorflow.lite.python.util") and pattern.match("rasa.core.tracker_store")
    assert pattern.match("corelib") and pattern.match("encoders_extra")
    assert not any(pattern.match(m) for m in ("nlu_components.featurizer", "encoders", "core.contracts"))
