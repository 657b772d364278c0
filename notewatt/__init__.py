"""NoteWatt: clinical notes through an LLM on Spark, with what it cost in energy. One run: `notewatt.run(config,
spark) -> RunResult` (notewatt/runner.py); the settings: notewatt.config.load_config."""


def run(config, spark=None, clock=None):
    """Run the job once (notewatt.runner.run; imported here on first use, so that `import notewatt.config` stays
    light)."""
    from notewatt.runner import run as run_once

    return run_once(config, spark, clock)
