"""Adapters of the engine's ``Orchestrator`` port (``kodo_bot.engine.ports``): the models that direct a team."""
