"""The service graph of stored traces, as X-Ray's ``GetServiceGraph`` builds it.

Nodes are services, one per (name, type): a segment's type is its ``origin``
(``service`` when it has none), an inferred segment's is the AWS resource type, a
``remote`` subsegment without a traced callee is a ``remote`` node named after the
host, and every root segment gets a ``client`` node in front of it. Edges run from
the segment that owns a calling subsegment to the segment parented to it (inferred
segments included), and from the queue to the consumer when a root segment links
to the message producer's subsegment (SQS -> Lambda trace linking). Each node and
edge counts requests as ok / error (throttle inside error) / fault and keeps
response times, in the field names of the X-Ray API.

Example:
    >>> from otel_xray.devtools.traces.store import PASS_THROUGH, TraceStore
    >>> root = "1-5759e988-bd862e3fe1be46a994272793"
    >>> store = TraceStore([{"name": "api", "id": "a" * 16, "trace_id": root,
    ...                      "start_time": 1.0, "end_time": 2.0}])
    >>> sorted(ServiceGraph.build(store).edge_labels())
    [('client', 'api (service)')]
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from otel_xray.devtools.traces.store import (
    PASS_THROUGH,
    Document,
    Trace,
    TraceStore,
    duration_of,
    start_of,
    status_of,
)

NodeKey = tuple[str, str]
CLIENT: NodeKey = ("client", "client")
#: Node types whose State is ``unknown`` in GetServiceGraph: no segment of their own
#: (the client, remote hosts, and AWS resources, whose ``AWS::`` types are inferred).


@dataclass
class Statistics:
    """Request counts and response times of a node or an edge."""

    ok: int = 0
    error: int = 0
    throttle: int = 0
    fault: int = 0
    response_times: list[float] = field(default_factory=list)
    #: Epoch seconds of the first start and the last end seen.
    start: float | None = None
    end: float | None = None

    def record(self, document: Document) -> None:
        begin = start_of(document)
        finish = begin + duration_of(document)
        self.start = begin if self.start is None else min(self.start, begin)
        self.end = finish if self.end is None else max(self.end, finish)
        status = status_of(document)
        if status == "ok":
            self.ok += 1
        elif status == "fault":
            self.fault += 1
        else:
            self.error += 1
            if status == "throttle":
                self.throttle += 1
        self.response_times.append(duration_of(document))

    @property
    def total(self) -> int:
        return self.ok + self.error + self.fault

    @property
    def average_ms(self) -> float:
        times = self.response_times
        return sum(times) / len(times) * 1000 if times else 0.0

    def summary(self) -> dict[str, Any]:
        """``SummaryStatistics`` as the X-Ray API names its fields."""
        return {
            "OkCount": self.ok,
            "ErrorStatistics": {
                "ThrottleCount": self.throttle,
                "OtherCount": self.error - self.throttle,
                "TotalCount": self.error,
            },
            "FaultStatistics": {"OtherCount": self.fault, "TotalCount": self.fault},
            "TotalCount": self.total,
            "TotalResponseTime": round(sum(self.response_times), 6),
        }

    def histogram(self) -> list[dict[str, Any]]:
        """``ResponseTimeHistogram``: counts per millisecond bucket (seconds, as X-Ray)."""
        buckets = Counter(math.ceil(t * 1000) / 1000 for t in self.response_times)
        return [{"Value": value, "Count": count} for value, count in sorted(buckets.items())]


@dataclass
class Node:
    name: str
    type: str
    statistics: Statistics = field(default_factory=Statistics)
    #: Stands for an inferred segment (an AWS resource with no segment of its own).
    inferred: bool = False

    @property
    def key(self) -> NodeKey:
        return (self.name, self.type)

    @property
    def label(self) -> str:
        return "client" if self.key == CLIENT else f"{self.name} ({self.type})"


@dataclass
class Edge:
    source: NodeKey
    target: NodeKey
    statistics: Statistics = field(default_factory=Statistics)
    #: True for an asynchronous hop found through a link (queue -> consumer).
    linked: bool = False


@dataclass
class ServiceGraph:
    nodes: dict[NodeKey, Node] = field(default_factory=dict)
    edges: dict[tuple[NodeKey, NodeKey], Edge] = field(default_factory=dict)
    trace_count: int = 0

    @classmethod
    def build(cls, store: TraceStore) -> ServiceGraph:
        graph = cls()
        for trace in store.traces():
            graph.trace_count += 1
            graph._add_trace(trace, store)
        return graph

    def node(self, name: str, type_: str) -> Node:
        key = (name, type_)
        if key not in self.nodes:
            self.nodes[key] = Node(name, type_)
        return self.nodes[key]

    def edge(self, source: NodeKey, target: NodeKey, linked: bool = False) -> Edge:
        if (source, target) not in self.edges:
            self.edges[(source, target)] = Edge(source, target, linked=linked)
        return self.edges[(source, target)]

    def _add_trace(self, trace: Trace, store: TraceStore) -> None:
        called: set[int] = set()
        for hop in hops(trace, store):
            called.add(id(hop.target))
            if hop.target.get("namespace") == "remote":  # a node no segment stands for
                self.node(*node_key(hop.target)).statistics.record(hop.target)
            edge = self.edge(node_key(hop.source), node_key(hop.target), linked=hop.linked)
            edge.statistics.record(hop.call)
        for segment in trace.segments:
            node = self.node(*node_key(segment))
            node.statistics.record(segment)
            node.inferred = node.inferred or bool(segment.get("inferred"))
            if id(segment) not in called:  # an entry point: a client calls it
                self.node(*CLIENT).statistics.record(segment)
                self.edge(CLIENT, node_key(segment)).statistics.record(segment)

    # reading ---------------------------------------------------------------------

    def edge_labels(self) -> set[tuple[str, str]]:
        """Every edge as (source label, target label): what tests compare."""
        return {(self.nodes[s].label, self.nodes[t].label) for s, t in self.edges}

    def node_labels(self) -> set[str]:
        return {node.label for node in self.nodes.values()}

    def depths(self) -> dict[NodeKey, int]:
        """Each node's longest call depth from a client (bounded, so a cycle cannot spin)."""
        depth = {key: 0 for key in self.nodes}
        for _ in range(len(self.nodes)):
            changed = False
            for source, target in self.edges:
                if target != CLIENT and depth[target] < depth[source] + 1:
                    depth[target] = depth[source] + 1
                    changed = True
            if not changed:
                break
        return depth

    def ordered(self) -> list[NodeKey]:
        """Nodes by call depth, then in the order they were first seen."""
        depth = self.depths()
        return sorted(self.nodes, key=lambda key: depth[key])

    def roots(self) -> list[NodeKey]:
        return [t for s, t in self.edges if s == CLIENT]

    def to_dict(self) -> dict[str, Any]:
        """A ``GetServiceGraph`` response, in the API's field names.

        As the developer guide's example (xray-api-gettingdata.md): the client node is
        named after the service it calls (``Names``: every service it calls), has
        ``State`` ``unknown`` and no statistics of its own; a traced service is
        ``active``, an inferred or remote one ``unknown``; each service and edge has
        ``StartTime`` and ``EndTime``; services have ``DurationHistogram`` and
        ``ResponseTimeHistogram``, edges ``ResponseTimeHistogram`` and ``Aliases``.
        ``TraceCount`` is ours (the API has none; the local map prints it).
        """
        reference = {key: number for number, key in enumerate(self.nodes)}
        roots = set(self.roots())
        services = []
        for key, node in self.nodes.items():
            stats = node.statistics
            edges = [
                {
                    "ReferenceId": reference[edge.target],
                    "StartTime": edge.statistics.start,
                    "EndTime": edge.statistics.end,
                    "SummaryStatistics": edge.statistics.summary(),
                    "ResponseTimeHistogram": edge.statistics.histogram(),
                    "Aliases": [],
                    **({"EdgeType": "LINKED"} if edge.linked else {}),
                }
                for (source, _), edge in self.edges.items()
                if source == key
            ]
            unknown = node.type in ("client", "remote") or node.inferred
            service: dict[str, Any] = {
                "ReferenceId": reference[key],
                "Name": node.name,
                "Names": [node.name],
                "Type": node.type,
                "State": "unknown" if unknown else "active",
                "StartTime": stats.start,
                "EndTime": stats.end,
                "Root": key in roots,
                "Edges": edges,
            }
            if key == CLIENT:
                called = [self.nodes[t].name for s, t in self.edges if s == CLIENT]
                service["Name"], service["Names"] = (called[0] if called else "client"), called
            else:
                service["SummaryStatistics"] = stats.summary()
                service["DurationHistogram"] = stats.histogram()
                service["ResponseTimeHistogram"] = stats.histogram()
            services.append(service)
        return {"Services": services, "TraceCount": self.trace_count}


def segment_key(segment: Document) -> NodeKey:
    """(name, type); an inferred segment is named after its resource where X-Ray names
    it (``aws.resource_names``: the guide's GetServiceGraph example names the DynamoDB
    node after its table), so every table, queue or bucket is a node of its own."""
    name = str(segment.get("name", ""))
    if segment.get("inferred"):
        names = (segment.get("aws") or {}).get("resource_names")
        if isinstance(names, list) and names:
            name = str(names[0])
    return (name, str(segment.get("origin") or "service"))


def node_key(document: Document) -> NodeKey:
    """The service a document stands for: its segment's, or a remote call's host."""
    if document.get("namespace") == "remote":
        return (str(document.get("name", "remote")), "remote")
    return segment_key(document)


@dataclass(frozen=True)
class Hop:
    """One call between two services of a trace: what the map draws as an edge."""

    source: Document  # the calling service's segment (or the queue's inferred segment)
    target: Document  # the called segment, inferred segment, or remote call
    call: Document  # the client-side view: the calling subsegment where there is one
    linked: bool = False  # found through a trace link (queue -> consumer)


def hops(trace: Trace, store: TraceStore) -> Iterator[Hop]:
    """Every edge of ``trace``: callers to callees, linked producers, remote calls."""
    called = {s.get("parent_id") for s in trace.segments}
    # A pass-through service's inferred segment (EventBridge, SNS) under a call: what
    # continues the trace from that call is reached through it.
    through = {
        s.get("parent_id"): s
        for s in trace.segments
        if s.get("inferred") and s.get("name") in PASS_THROUGH
    }
    for segment in trace.segments:
        parent_id = segment.get("parent_id")
        caller = trace.get(str(parent_id)) if parent_id else None
        relay = through.get(parent_id)
        if relay is not None and relay is not segment:
            yield Hop(relay, segment, segment)
            continue
        if caller is not None:
            owner = trace.owner(str(parent_id)) or caller
            yield Hop(owner, segment, caller if caller is not owner else segment)
            continue
        upstream = _linked_upstream(segment, store)
        if upstream is not None:
            yield Hop(upstream, segment, segment, linked=True)
    for document, owner in trace.walk():
        if document.get("namespace") == "remote" and document.get("id") not in called:
            yield Hop(owner, document, document)


def services_of(trace: Trace) -> Iterator[Document]:
    """Every node's document in the trace: segments (inferred too) and remote calls."""
    yield from trace.segments
    called = {s.get("parent_id") for s in trace.segments}
    for document, _ in trace.walk():
        if document.get("namespace") == "remote" and document.get("id") not in called:
            yield document


def _linked_upstream(segment: Document, store: TraceStore) -> Document | None:
    """The service a root segment's links lead back to: the producer's queue, say."""
    for link in segment.get("links") or []:
        if not isinstance(link, dict):
            continue
        found = store.find(str(link.get("trace_id")), str(link.get("id")))
        if found is None:
            continue
        producer_trace, producer = found
        callees = producer_trace.children_of(str(producer.get("id")))
        # The service the message went through (the queue, the topic) before any
        # function that continued the call's trace (an SNS topic's Lambda subscriber).
        callees = [c for c in callees if c.get("inferred")] or callees
        return callees[0] if callees else producer_trace.owner(str(producer.get("id")))
    return None
