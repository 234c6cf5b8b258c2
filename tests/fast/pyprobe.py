"""Run a rendered Python configuration file with stand-ins for the libraries it imports, print its settings.

    python pyprobe.py settings FILE [PATH...]    run FILE (PATHs first on sys.path), print its settings as JSON
    python pyprobe.py script SCRIPT ARG...       run SCRIPT as __main__ with ARGs (e.g. the superset role's
                                                 superset-check-config), with the same stand-ins

The stand-ins replace what the control node does not have (Celery, cachelib, redis-py's Sentinel): they accept
any arguments and keep them, so that the file runs as far as its own code goes. Settings are printed as JSON:
classes as the dict of their public attributes, other objects as {"__repr__": ...}.
"""

import json
import runpy
import sys
import types


class _Anything:
    """Accepts any arguments and keeps them (cachelib's RedisCache, Celery's app)."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __getattr__(self, name):
        return lambda *args, **kwargs: None

    def __repr__(self):
        return f"{type(self).__name__}(*{self.args!r}, **{self.kwargs!r})"


class _Sentinel(_Anything):
    """redis.sentinel.Sentinel: master_for gives a client that keeps its arguments and its Sentinel."""

    def master_for(self, *args, **kwargs):
        return type("Redis", (_Anything,), {})(*args, sentinel=self, **kwargs)


def _install_stand_ins():
    modules = {
        "cachelib": {},
        "cachelib.redis": {"RedisCache": type("RedisCache", (_Anything,), {})},
        "redis": {},
        "redis.sentinel": {"Sentinel": _Sentinel},
        "celery": {"Celery": type("Celery", (_Anything,), {}), "shared_task": lambda *a, **k: (lambda f: f)},
        "celery.schedules": {"crontab": lambda **kwargs: {"crontab": kwargs}},
    }
    for name, attributes in modules.items():
        if name in sys.modules:
            continue
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        sys.modules[name] = module


def _plain(value, depth=0):
    if depth > 6:
        return repr(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, type):
        return {k: _plain(v, depth + 1) for k, v in vars(value).items() if not k.startswith("_")}
    if isinstance(value, _Anything):
        return {"__repr__": repr(value), "kwargs": _plain(value.kwargs, depth + 1)}
    return {"__repr__": repr(value)}


def main(argv):
    _install_stand_ins()
    mode, path, rest = argv[1], argv[2], argv[3:]
    if mode == "script":
        sys.argv = [path, *rest]
        runpy.run_path(path, run_name="__main__")
        return 0
    sys.path[:0] = rest
    settings = runpy.run_path(path, run_name="settings")
    public = {}
    for name, value in settings.items():
        if name.startswith("__") or isinstance(value, types.ModuleType):
            continue
        if isinstance(value, type) and value.__module__ != "settings":
            continue  # an imported class (timedelta, a stand-in), not a setting
        if callable(value) and not isinstance(value, (type, _Anything)):
            continue  # a function
        public[name] = value
    json.dump({k: _plain(v) for k, v in public.items()}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
