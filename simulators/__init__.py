"""Device simulators: CGM on dogs and cats, horse feeders, milking robots, with labelled anomalies.

Modules (private, one concern each): ``_scenario`` (TOML fleets), ``_cgm`` / ``_horse`` / ``_dairy`` (the models),
``_anomalies`` (recipes and labels), ``_engine`` (day-by-day generation), ``_faults`` (transport faults), ``_output``
(JSON lines, MQTT messages), ``_publish`` (aiomqtt publisher and time model), ``_record`` (record / replay),
``_register`` (registry), ``_run`` (entry points), ``cli`` (commands). Nothing heavy is imported here, so that
``vigie --help`` stays fast; import from the modules, e.g. ``from simulators._run import publish_scenario``.
"""
