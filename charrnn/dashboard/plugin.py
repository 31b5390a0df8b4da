"""TensorBoard's "charrnn" tab: the runs of the log folder, and text generated from their newest or
best checkpoint as it is written.

TensorBoard finds the plugin through the `tensorboard_plugins` entry point in pyproject.toml.
Routes, under /data/plugin/charrnn:
    GET  /index.js, /static/panel.html, /static/style.css   the page (an ES module, no build step)
    GET  /runs       {"runs": [{"name", "save_dir", "latest", "best"}], "limits": {...}}
    POST /generate   a JSON GenerationRequest -> application/x-ndjson, a line per message:
                     {"commands": [one per sample], "checkpoint", "seed"}, then
                     {"chunk": [text per sample]}..., then {"done": true, "seconds"} or {"error"}
Bad requests get a 4xx JSON {"error": message}. Runs are looked up by name among those found
under the log folder: no path in a request is ever opened.
"""

import json
import os
import time

from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from charrnn.core.errors import CharRNNError
from charrnn.dashboard import generation, runs

_STATIC = os.path.join(os.path.dirname(__file__), "static")
_STATIC_FILES = {"/index.js": ("index.js", "text/javascript"),
                 "/static/panel.html": ("panel.html", "text/html"),
                 "/static/style.css": ("style.css", "text/css")}
_MAX_BODY_BYTES = 4 * generation.MAX_PRIME_CHARS + 4096  # a prime of 4-byte characters and the settings


def _error(request, status: int, message: str):
    return http_util.Respond(request, {"error": message}, "application/json", code=status)


class CharRNNPlugin(base_plugin.TBPlugin):
    plugin_name = "charrnn"

    def __init__(self, context):
        self._runs = runs.RunIndex(context.logdir or "")
        self._models = generation.ModelCache()
        self._generations = generation.Generations()

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name="charrnn", disable_reload=True)

    def is_active(self) -> bool:
        return bool(self._runs.runs())

    def get_plugin_apps(self):
        apps = {route: self._serve_static for route in _STATIC_FILES}
        apps.update({"/runs": self._serve_runs, "/generate": self._serve_generate})
        return apps

    @wrappers.Request.application
    def _serve_static(self, request):
        name, content_type = _STATIC_FILES[request.path[request.path.rindex("/charrnn") + len("/charrnn"):]]
        with open(os.path.join(_STATIC, name), encoding="utf-8") as f:
            return http_util.Respond(request, f.read(), content_type)

    @wrappers.Request.application
    def _serve_runs(self, request):
        listing = []
        for name, save_dir in sorted(self._runs.runs().items()):
            latest, best = (runs.checkpoint_info(save_dir, which) for which in generation.CHECKPOINTS)
            listing.append({"name": name, "save_dir": save_dir, "latest": latest and latest.to_json(),
                            "best": best and best.to_json()})
        limits = {"prime_chars": generation.MAX_PRIME_CHARS, "length": generation.MAX_LENGTH,
                  "num_samples": generation.MAX_SAMPLES}
        return http_util.Respond(request, {"runs": listing, "limits": limits}, "application/json")

    @wrappers.Request.application
    def _serve_generate(self, request):
        if request.method != "POST":
            return _error(request, 405, "send the request as a POST")
        # JSON only: a page elsewhere cannot send that to this server without the browser asking first.
        if request.mimetype != "application/json":
            return _error(request, 415, "send the request as application/json")
        if (request.content_length or 0) > _MAX_BODY_BYTES:
            return _error(request, 413, f"the request is over {_MAX_BODY_BYTES:,} bytes")
        try:
            body = json.loads(request.get_data(as_text=False).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            return _error(request, 400, f"the request is not JSON: {e}")
        try:
            known = self._runs.runs()
            generate = generation.parse_request(body, known)
            save_dir = known[generate.run]
            try:
                loaded = self._models.get(save_dir, generate.checkpoint)
            except CharRNNError as e:  # no checkpoint saved yet, or only damaged ones
                raise generation.RequestError(409, str(e)) from None
            try:
                loaded.sampler.vocab.encode(generate.prime)
            except CharRNNError as e:  # it names the characters the model never saw
                raise generation.RequestError(400, str(e)) from None
            chunks = self._generations.submit(loaded, generate)
        except generation.RequestError as e:
            return _error(request, e.status, str(e))
        commands = [generation.reproducing_command(generate, save_dir, loaded.checkpoint_path, i)
                    for i in range(generate.num_samples)]
        head = {"commands": commands, "checkpoint": loaded.checkpoint_path, "seed": generate.seed}
        response = wrappers.Response(_ndjson(head, chunks), mimetype="application/x-ndjson", direct_passthrough=True)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        return response


def _ndjson(head: dict, chunks):
    """The lines of a generation's answer, each sent as soon as it is made."""
    start = time.monotonic()
    yield (json.dumps(head) + "\n").encode("utf-8")
    try:
        for chunk in chunks:
            yield (json.dumps({"chunk": chunk}) + "\n").encode("utf-8")
    except (generation.RequestError, CharRNNError) as e:
        yield (json.dumps({"error": str(e)}) + "\n").encode("utf-8")
        return
    finally:
        chunks.close()  # a client that left frees its rows
    yield (json.dumps({"done": True, "seconds": round(time.monotonic() - start, 3)}) + "\n").encode("utf-8")
