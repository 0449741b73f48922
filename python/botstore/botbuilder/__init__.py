"""Bot Framework (``botbuilder-core``) adapters: state storage and transcripts in botstore.

* :class:`BotstoreStorage`: a ``Storage`` for ``ConversationState``, ``UserState`` and
  dialogs, with the Bot Framework's e_tag rules (an e_tag is the botstore version);
* :class:`BotstoreTranscriptStore`: a ``TranscriptStore`` for
  ``TranscriptLoggerMiddleware``, one botstore stream per conversation.

Both take a :class:`botstore.Store` (embedded) or a :class:`botstore.RemoteStore`
(``botstore serve``). Needs the ``botbuilder`` extra (in ``python/``: ``pip install '.[botbuilder]'``).
"""

from botstore.botbuilder.storage import BotstoreStorage
from botstore.botbuilder.transcript_store import PAGE_SIZE, BotstoreTranscriptStore

__all__ = ["BotstoreStorage", "BotstoreTranscriptStore", "PAGE_SIZE"]
