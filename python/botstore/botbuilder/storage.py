"""Bot Framework state storage (``ConversationState``, ``UserState``, dialogs) in botstore."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from botbuilder.core import Storage
from jsonpickle.pickler import Pickler
from jsonpickle.unpickler import Unpickler

from botstore import Delete, Item, PreconditionFailed, Put, StoreBase
from botstore.botbuilder._names import key_name, namespace_tuple

if TYPE_CHECKING:
    from botstore._native import NamespaceLike


class BotstoreStorage(Storage):
    """A :class:`botbuilder.core.Storage` kept in a botstore ``Store`` or ``RemoteStore``.

    Each storage key is one botstore item in ``namespace`` (keys are escaped so that any
    string works, see :mod:`botstore.botbuilder._names`). The value is the state as JSON
    in jsonpickle's format, as the Azure storages write it, so ``StoreItem`` objects and
    dialog state come back as the classes they were; plain dicts come back as dicts.

    An item's ``e_tag`` is its botstore version, as a string. Writing follows the Bot
    Framework rules (``MemoryStorage``, Cosmos DB, Blob):

    * no ``e_tag`` (missing or ``None``) or ``"*"``: the write is unconditional;
    * any other ``e_tag``: the write succeeds only if the item exists with exactly that
      version, else :class:`botstore.PreconditionFailed` (an ``Exception``) is raised;
    * an empty ``e_tag``, or one that is not a version this storage issued: ``ValueError``.

    All the changes of one :meth:`write` (and all the keys of one :meth:`delete`) are one
    atomic botstore batch: if one precondition fails, nothing is written. After a write,
    every written dict or object carries its new ``e_tag``, so writing it again (as
    ``BotState.save_changes`` does within a turn) passes the check.
    """

    def __init__(self, store: StoreBase, *, namespace: NamespaceLike = ("botbuilder", "state")) -> None:
        super().__init__()
        self._store = store
        self._namespace = namespace_tuple(namespace)

    async def read(self, keys: Iterable[str]) -> dict[str, Any]:
        """The stored state of each key that exists, each with its current ``e_tag``."""
        if keys is None:
            # The message botbuilder.testing.StorageBaseTests expects.
            raise Exception("Keys are required when reading")  # pylint: disable=broad-exception-raised
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        items = await self._store.aget_many([(self._namespace, key_name(k)) for k in wanted])
        return {key: _restore(item) for key, item in zip(wanted, items) if item is not None}

    async def write(self, changes: Mapping[str, Any]) -> None:
        """Write every change in one atomic batch, then set each change's ``e_tag``."""
        if changes is None:
            # The message botbuilder.testing.StorageBaseTests expects.
            raise Exception("Changes are required when writing")  # pylint: disable=broad-exception-raised
        if not changes:
            return
        expected = {key: _expected_version(key, change) for key, change in changes.items()}
        ops = [
            Put(self._namespace, key_name(key), _document(change), if_version=expected[key])
            for key, change in changes.items()
        ]
        try:
            versions = await self._store.abatch(ops)
        except PreconditionFailed as err:
            checked = " or ".join(repr(key) for key, version in expected.items() if version is not None)
            raise PreconditionFailed(
                f"BotstoreStorage.write(): e_tag conflict: {checked} changed since it was read; nothing was written ({err})",
                err.current,
            ) from err
        for change, version in zip(changes.values(), versions):
            _set_e_tag(change, str(version))

    async def delete(self, keys: Iterable[str]) -> None:
        """Delete the keys (in one atomic batch); keys that do not exist are no error."""
        if keys is None:
            raise Exception("Keys are required when deleting")  # pylint: disable=broad-exception-raised
        ops = [Delete(self._namespace, key_name(k)) for k in dict.fromkeys(keys)]
        if ops:
            await self._store.abatch(ops)


def _e_tag(change: Any) -> Any:
    if isinstance(change, dict):
        return change.get("e_tag")
    return getattr(change, "e_tag", None)


def _set_e_tag(change: Any, e_tag: str) -> None:
    if isinstance(change, dict):
        change["e_tag"] = e_tag
    elif hasattr(change, "__dict__"):
        change.e_tag = e_tag


def _expected_version(key: str, change: Any) -> int | None:
    """The ``if_version`` a change is written with (``None``: unconditional)."""
    e_tag = _e_tag(change)
    if e_tag is None or e_tag == "*":
        return None
    if e_tag == "":
        raise ValueError(f"BotstoreStorage.write(): the e_tag of {key!r} is empty (use '*' or None to overwrite)")
    if isinstance(e_tag, str) and e_tag.isascii() and e_tag.isdigit():
        return int(e_tag)
    raise ValueError(f"BotstoreStorage.write(): the e_tag {e_tag!r} of {key!r} is not one this storage issued")


def _document(change: Any) -> Any:
    """The JSON document stored for a change: jsonpickle's form, without the ``e_tag``."""
    doc = Pickler().flatten(change)
    if isinstance(doc, dict):
        doc.pop("e_tag", None)
    return doc


def _restore(item: Item) -> Any:
    """The state an item holds, with its version as ``e_tag``."""
    doc = item.json()
    if isinstance(doc, dict):
        doc["e_tag"] = str(item.version)
    return Unpickler(safe=True).restore(doc)
