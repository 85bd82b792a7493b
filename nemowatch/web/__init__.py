"""The running daemon's local API: a JSON API on a Unix socket, its client, its metrics.

    metrics = Metrics(conditions, queued=lambda: queue.qsize())
    app = build_app(control, metrics, metrics_token=token)  # before bus.start()
    api = ApiServer(app)
    await api.start_unix(socket_path(state_dir, runtime_dir))
    ...
    await api.stop(grace)

Nothing is imported here: the commands import `web.client` (httpx only) without
loading the server's aiohttp and Prometheus.
"""
