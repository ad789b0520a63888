r"""Plugins: modules and files that register losses (:func:`astra_np.core.registry.register_count_loss`).

A plugin is a module name (``mypackage.losses``) or the path of a Python file
(``my_loss.py``); importing it registers its losses. Installed packages can declare
theirs in the entry-point group ``astra_np.losses`` (as pytest and flake8 plugins do):

.. code-block:: toml

    [project.entry-points."astra_np.losses"]
    fbeta = "mypackage.losses"

Every command of ``python -m astra_np`` loads the entry points and its ``--plugin``
arguments before it parses method names, and the protocol's worker processes load the
same plugins (:func:`loaded_plugins`) before their first fold.
"""
import importlib
import importlib.util
import os
import sys
from importlib import metadata

__all__ = ["ENTRY_POINT_GROUP", "PluginError", "load_plugin", "load_plugins", "load_entry_points",
           "loaded_plugins", "plugin_of"]

#: The entry-point group of installed packages that register losses.
ENTRY_POINT_GROUP = "astra_np.losses"

_LOADED = {}  # plugin (module name or absolute file path) -> module name


class PluginError(ValueError):
    r"""A plugin that could not be imported (the message is one line naming it)."""


def _module_name_of_file(path):
    stem = os.path.splitext(os.path.basename(path))[0]
    return "astra_np_plugin_" + "".join(c if c.isalnum() else "_" for c in stem)


def _import_file(path):
    name = _module_name_of_file(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None:
        raise ImportError(f"not a Python file: {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _is_file(plugin):
    return plugin.endswith(".py") or os.sep in plugin or (os.altsep and os.altsep in plugin)


def load_plugin(plugin):
    r"""Import one plugin (a module name or a ``.py`` file) once; returns its key.

    Raises
    ------
    PluginError
        One line naming the plugin and the error when it cannot be imported (or when
        its registration is refused).
    """
    if not isinstance(plugin, str) or not plugin:
        raise PluginError(f"plugin must be a module name or a .py file, got {plugin!r}")
    key = os.path.abspath(plugin) if _is_file(plugin) else plugin
    if key in _LOADED:
        return key
    try:
        if _is_file(plugin):
            if not os.path.isfile(key):
                raise FileNotFoundError(f"no such file: {plugin}")
            module = _import_file(key)
        else:
            module = importlib.import_module(plugin)
    except Exception as exc:  # any failure of the plugin's own code is reported the same way
        text = " ".join(str(exc).split())
        raise PluginError(f"plugin {plugin!r} failed to load: {type(exc).__name__}: {text}") from None
    _LOADED[key] = module.__name__
    return key


def load_plugins(plugins):
    r"""Import every plugin of ``plugins`` in order (see :func:`load_plugin`)."""
    return [load_plugin(p) for p in plugins or ()]


def load_entry_points():
    r"""Import the plugins installed packages declare in :data:`ENTRY_POINT_GROUP`."""
    loaded = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        key = ep.value.partition(":")[0].strip()
        if key in _LOADED:
            continue
        try:
            target = ep.load()
        except Exception as exc:
            text = " ".join(str(exc).split())
            raise PluginError(f"plugin {ep.name!r} ({ep.value}) of entry-point group {ENTRY_POINT_GROUP!r} "
                              f"failed to load: {type(exc).__name__}: {text}") from None
        if callable(target):
            target()
        _LOADED[key] = key
        loaded.append(key)
    return loaded


def loaded_plugins():
    r"""The plugins loaded in this process, in order (module names and absolute file paths)."""
    return list(_LOADED)


def plugin_of(module_name):
    r"""The plugin that defined module ``module_name`` (its name or file), or the name itself."""
    for key, name in _LOADED.items():
        if name == module_name:
            return key
    return module_name
