"""The development kit shared by `tests/` and `bench/` (not shipped in the wheel).

- `devkit.daemon`: a `nemowatch run` process with its folders and config file.
- `devkit.emulator`: the emulator in a thread (tests) or a child process (benchmarks).
- `devkit.drops`: dropping work into an inbox the way people and tools do.
- `devkit.waits`: waiting on a condition with a deadline; fails early, with the
  log's tail, when a daemon it watches has died.
- `devkit.notify`: the systemd side of `$NOTIFY_SOCKET`.

Importable from the checkout's top level: pytest puts it on the path
(`pythonpath` in pyproject.toml), and `python -m bench.NAME` runs from there.
"""
