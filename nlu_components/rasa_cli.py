"""Rasa's own command line, without the warnings a newcomer can do nothing about (what `make run` starts).

    .venv-rasa/bin/python -m nlu_components.rasa_cli train|run|… [Rasa's arguments]

Two kinds of warnings are left out; everything else Rasa says is kept, and `--debug` shows these too:

- deprecation warnings of the libraries pinned with Rasa 3.6.21 (TensorFlow/jax, pkg_resources, matplotlib's
  pyparsing, sanic-cors, SQLAlchemy 1.4 in the tracker store): only a newer Rasa would change them. This
  project's own modules (`PROJECT_MODULES`) still show theirs.
- `EXPECTED_WARNINGS`: validation warnings about this project's data that are known to be wrong, each with the
  reason. They go into Rasa's own list of expected warnings, which Rasa filters unless logging at DEBUG.

Runs in Rasa's runtime (Python 3.10): standard library only until Rasa is imported.
"""

from __future__ import annotations

import re
import sys
import warnings

#: Packages of this project that run inside Rasa: their deprecation warnings are shown.
PROJECT_MODULES = ("nlu_components", "encoders", "core")

#: Responses the domain defines for the custom actions (actions/) or for Rasa's built-in actions, not for
#: rules or stories. Rasa's validator checks only rules and stories, so during training it calls each of them
#: "not used in any story or rule". tests/nlu/test_rasa_cli.py checks that each is uttered by an action.
RESPONSES_UTTERED_BY_ACTIONS = (
    "utter_ask_order_number",  # order_status_form asks with it (Rasa's form action); action_order_status too
    "utter_default",  # Rasa's action_default_fallback (core_fallback_action_name in config.yml)
    "utter_handoff",  # actions.common.send_handoff
    "utter_kb_choices",  # actions.kb
    "utter_kb_no_answer",
    "utter_kb_unavailable",
    "utter_order_not_found",  # actions.orders
    "utter_order_number_invalid",
    "utter_order_system_down",
    "utter_out_of_scope",  # actions.kb: the refusal of an out-of-scope message when the FAQ has nothing for it
    "utter_payment_problem",  # actions.kb: the static answers when the knowledge base has nothing
    "utter_return_refund",
    "utter_shipping_info",
)

#: (category, message regex) pairs for Rasa's `rasa.utils.common.EXPECTED_WARNINGS`.
EXPECTED_WARNINGS: list[tuple[type[Warning], str]] = [
    (UserWarning, f"The utterance '{re.escape(name)}' is not used in any story or rule")
    for name in RESPONSES_UTTERED_BY_ACTIONS
] + [
    # RegexEntityExtractor finds order numbers with the `order_number` regex (nlu_data/nlu.yml); it uses only
    # regexes named after an entity annotated in the examples, so the annotations stay, although Rasa
    # expects annotated entities to train a CRF or DIET extractor.
    (UserWarning, "You have defined training data consisting of entity examples, but your NLU configuration does "
                  "not include an entity extractor trained on your training data"),
]


def third_party_module_re(project_modules: tuple[str, ...] = PROJECT_MODULES) -> str:
    """A `warnings` module regex that matches every module except this project's."""
    return r"(?!(" + "|".join(map(re.escape, project_modules)) + r")(\.|$))"


def quiet_warnings() -> None:
    """Install the filters (before Rasa and its libraries are imported)."""
    if "--debug" in sys.argv or "-vv" in sys.argv:
        return
    # Sanic, on import, asks to show every DeprecationWarning once; imported first, so that this filter,
    # added after it, is the one that applies.
    import sanic.app  # noqa: F401

    warnings.filterwarnings("ignore", category=DeprecationWarning, module=third_party_module_re())
    from rasa.utils import common  # after the filter: importing Rasa is what warns

    # Rasa installs these after its own "show UserWarnings once" filter, so they take precedence.
    common.EXPECTED_WARNINGS.extend(EXPECTED_WARNINGS)
    # pyparsing's deprecation warnings are UserWarnings too: Rasa's "once" filter would show them (matplotlib's
    # use of pyparsing's old names, while Rasa loads its plotting code).
    import pyparsing

    category = getattr(pyparsing, "PyparsingDeprecationWarning", None)
    if category is not None:
        common.EXPECTED_WARNINGS.append((category, ""))


def main() -> None:
    quiet_warnings()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
