"""The studio: where a support team edits the bot's content in the browser and publishes it (`/studio`).

- `content` — the content-editing layer (the importable API: intents and examples, responses, FAQ entries,
  history and revert), over the stores per file kind: `nlu_files`, `domain_file`, `faq_files`, which plan
  one-item edits of the YAML files with `yaml_text`; `checks` runs the project's validators on a plan; `git`
  commits each save;
- `gaps` — which intents, responses and FAQ entries lack which language;
- `knowledge` — the hub's view of the live index ("try a question", per-channel previews);
- `releases`, `gate`, `evaluation`, `publish` — published models, the evaluation gate, publishing and rollback;
- `service` (the parts, built by the composition root), `api` (page and REST API), `__main__` (CI).
"""
