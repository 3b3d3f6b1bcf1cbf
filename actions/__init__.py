"""Custom actions of the Brightcart support bot (rasa-sdk, Python 3.11).

- `actions.kb`: ``action_answer_from_kb``, answers from the FAQ knowledge base (kb_index/);
- `actions.handoff`: ``action_handoff``, hands the conversation to a person;
- `actions.orders`: ``validate_order_status_form`` and ``action_order_status``;
- `actions.session`: ``action_session_start``, sets the conversation language;
- `actions.server`: the Starlette app that serves them (``python -m actions``).

The actions take their dependencies in their constructors, so register instances
(`actions.server.build_actions`) rather than using ``ActionExecutor.register_package``.
"""
