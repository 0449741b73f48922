"""A 200-step LangGraph thread, one ~300-byte message a step: bytes on disk against the
final checkpoint's serialized size, BotstoreSaver and SqliteSaver in the same run."""
import os, sqlite3, sys, tempfile
from typing import Annotated, TypedDict
from langgraph.graph import StateGraph, START, END
from langgraph.graph.message import add_messages
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
import botstore
from botstore.langgraph import BotstoreSaver

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 200

class State(TypedDict):
    messages: Annotated[list, add_messages]

def node(state):
    return {}

def graph(saver):
    b = StateGraph(State)
    b.add_node("n", node)
    b.add_edge(START, "n")
    b.add_edge("n", END)
    return b.compile(checkpointer=saver)

def text(i):
    base = f"step {i}: the user asks about order {1000 + i} and the delivery window; "
    return (base * 8)[:300]

def run(saver):
    g = graph(saver)
    cfg = {"configurable": {"thread_id": "t1"}}
    for i in range(STEPS):
        g.invoke({"messages": [("user", text(i))]}, cfg)
    t = saver.get_tuple(cfg)
    return len(JsonPlusSerializer().dumps_typed(t.checkpoint)[1])

def du(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)

root = tempfile.mkdtemp(prefix="lg-size-")
data = os.path.join(root, "botstore")
store = botstore.Store(data)
final_b = run(BotstoreSaver(store))
store.close()
files = {f: os.path.getsize(os.path.join(data, f)) for f in os.listdir(data)}
db = os.path.join(root, "sqlite.db")
conn = sqlite3.connect(db, check_same_thread=False)
final_s = run(SqliteSaver(conn))
conn.close()
side = sum(du(db + s) for s in ("-wal", "-shm") if os.path.exists(db + s))
print(f"steps {STEPS}; final checkpoint {final_b} B (sqlite run: {final_s} B)")
print(f"botstore: {du(data)} B = {du(data)/final_b:.1f}x  files {files}")
print(f"sqlite:   {du(db)+side} B = {(du(db)+side)/final_s:.1f}x")
