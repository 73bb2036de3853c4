"""X-Ray filter expressions, evaluated over locally assembled traces.

The language of the X-Ray console and of groups (the AWS guide, "Using filter
expressions"): boolean keywords (``ok error throttle fault partial inferred first
last remote root``), number keywords (``responsetime duration http.status index
coverage``) with ``= != < <= > >=``, string keywords (``http.url http.method
http.useragent http.clientip user name type message availabilityzone instance.id
resource.arn``) with ``= != CONTAINS BEGINSWITH ENDSWITH``, ``annotation.KEY``,
``service(name) {filter}``, ``edge(a, b) {filter}``, ``id(name: "", type: "")``,
``group.name``, ``AND`` / ``OR`` / ``NOT`` / ``!``, parentheses, and terms side
by side meaning ``AND`` (``ok !partial duration < 3``). Keywords and operators are
case-insensitive.

What a keyword reads, as X-Ray does: at the top level the trace's entry (root)
segment, except ``user``, ``message``, ``resource.arn``, ``availabilityzone``,
``instance.id``, ``partial``, ``inferred`` and annotations, which look at every
segment of the trace; inside ``service() {}`` and ``edge() {}`` the segment of that
service, or the call on that edge. Root-cause analysis (``rootcause.*``, ``json``)
needs X-Ray's analytics and is refused with a clear error; ``first``, ``last``,
``remote``, ``index`` and ``coverage`` only mean something there and read as
false / 0 elsewhere.

Example:
    >>> from otel_xray.devtools.traces.store import TraceStore
    >>> store = TraceStore([{"name": "api", "id": "a" * 16, "start_time": 1.0, "end_time": 3.5,
    ...     "trace_id": "1-5759e988-bd862e3fe1be46a994272793", "annotations": {"tier": "gold"}}])
    >>> query = FilterExpression.parse('responsetime > 2 AND annotation.tier = "gold"')
    >>> [t.id for t in query.select(store)]
    ['1-5759e988-bd862e3fe1be46a994272793']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from otel_xray.devtools.traces.service_graph import hops, node_key, services_of
from otel_xray.devtools.traces.store import Document, Trace, TraceStore, duration_of, status_of

BOOLEAN_KEYWORDS = frozenset(
    {"ok", "error", "throttle", "fault", "partial", "inferred", "first", "last", "remote", "root"}
)
NUMBER_KEYWORDS = frozenset({"responsetime", "duration", "http.status", "index", "coverage"})
STRING_KEYWORDS = frozenset(
    {
        "http.url",
        "http.method",
        "http.useragent",
        "http.clientip",
        "user",
        "name",
        "type",
        "message",
        "availabilityzone",
        "instance.id",
        "resource.arn",
    }
)
STRING_OPERATORS = frozenset({"contains", "beginswith", "endswith"})
COMPARISONS = frozenset({"=", "!=", "<", "<=", ">", ">="})


class FilterSyntaxError(ValueError):
    """A filter expression that does not parse; ``position`` is the 0-based offset."""

    def __init__(self, message: str, expression: str, position: int) -> None:
        self.position = position
        pointer = " " * position + "^"
        super().__init__(f"{message} at position {position}\n  {expression}\n  {pointer}")


# tokens ----------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*(?P<close>"?))
  | (?P<number>-?\d+(?:\.\d+)?(?![\w.]))
  | (?P<op><=|>=|!=|=|<|>|!)
  | (?P<punct>[(){},:])
  | (?P<word>[A-Za-z_][\w.\-]*)
  | (?P<bad>.)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    position: int

    @property
    def lowered(self) -> str:
        return self.text.lower()


def tokenize(expression: str) -> list[Token]:
    tokens = []
    for match in _TOKEN.finditer(expression):
        kind = match.lastgroup or "bad"
        if kind == "space":
            continue
        if kind == "bad":
            raise FilterSyntaxError(
                f"unexpected character {match.group()!r}", expression, match.start()
            )
        if kind == "string" and not match.group("close"):
            raise FilterSyntaxError("unterminated string", expression, match.start())
        tokens.append(Token(kind, match.group(), match.start()))
    tokens.append(Token("end", "", len(expression)))
    return tokens


# the tree: each node is a function of a Scope -------------------------------------------

Predicate = Callable[["Scope"], bool]


@dataclass
class Scope:
    """What keywords read: a whole trace, or one service's segment / one edge's call."""

    trace: Trace
    store: TraceStore
    document: Document  # the root segment, a service's segment, or an edge's call
    whole_trace: bool
    groups: Mapping[str, FilterExpression]


class _Parser:
    def __init__(self, expression: str, groups: Mapping[str, str]) -> None:
        self.expression = expression
        self.tokens = tokenize(expression)
        self.index = 0
        self.groups = groups

    # helpers
    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def error(self, message: str, token: Token | None = None) -> FilterSyntaxError:
        at = token or self.token
        found = "the end" if at.kind == "end" else repr(at.text)
        return FilterSyntaxError(f"{message}, found {found}", self.expression, at.position)

    def expect(self, text: str) -> Token:
        if self.token.text != text:
            raise self.error(f"expected {text!r}")
        return self.advance()

    # grammar
    def parse(self) -> Predicate:
        if self.token.kind == "end":
            raise self.error("empty expression")
        tree = self.or_expression()
        if self.token.kind != "end":
            raise self.error("expected AND, OR or the end")
        return tree

    def or_expression(self) -> Predicate:
        terms = [self.and_expression()]
        while self.token.lowered == "or":
            self.advance()
            terms.append(self.and_expression())
        return terms[0] if len(terms) == 1 else (lambda s: any(t(s) for t in terms))

    def and_expression(self) -> Predicate:
        terms = [self.unary()]
        while True:
            if self.token.lowered == "and":
                self.advance()
            elif not self.starts_term():
                break
            terms.append(self.unary())  # side by side: AND
        return terms[0] if len(terms) == 1 else (lambda s: all(t(s) for t in terms))

    def starts_term(self) -> bool:
        token = self.token
        return token.text in ("(", "!") or (
            token.kind == "word" and token.lowered not in ("and", "or")
        )

    def unary(self) -> Predicate:
        if self.token.text == "!" or self.token.lowered == "not":
            self.advance()
            inner = self.unary()
            return lambda s: not inner(s)
        return self.primary()

    def primary(self) -> Predicate:
        token = self.token
        if token.text == "(":
            self.advance()
            inner = self.or_expression()
            self.expect(")")
            return inner
        if token.kind != "word":
            raise self.error("expected a keyword, service(), edge(), '(' or '!'")
        word = token.lowered
        if word == "service":
            return self.service()
        if word == "edge":
            return self.edge()
        if word.startswith(("rootcause", "json")):
            raise self.error(
                "root-cause keywords need X-Ray's analytics and are not evaluated locally"
            )
        return self.comparison()

    def service_id(self) -> tuple[str | None, str | None]:
        token = self.token
        if token.kind == "string":
            self.advance()
            return _unquote(token.text), None
        if token.lowered == "id":
            self.advance()
            self.expect("(")
            fields: dict[str, str] = {}
            while True:
                name = self.advance()
                if name.kind != "word" or name.lowered not in ("name", "type", "account.id"):
                    raise self.error("id() takes name, type and account.id", name)
                self.expect(":")
                value = self.advance()
                if value.kind != "string":
                    raise self.error("expected a quoted value", value)
                fields[name.lowered] = _unquote(value.text)
                if self.token.text == ",":
                    self.advance()
                    continue
                self.expect(")")
                break
            unknown = set(fields) - {"name", "type", "account.id"}
            if unknown:
                raise self.error(
                    f"id() takes name, type and account.id, not {sorted(unknown)}", token
                )
            return fields.get("name"), fields.get("type")
        raise self.error('expected a service name in quotes or id(name: "...", type: "...")')

    def braces(self) -> Predicate | None:
        if self.token.text != "{":
            return None
        self.advance()
        inner = self.or_expression()
        self.expect("}")
        return inner

    def service(self) -> Predicate:
        self.advance()
        self.expect("(")
        wanted: tuple[str | None, str | None] = (None, None)
        if self.token.text != ")":
            wanted = self.service_id()
        self.expect(")")
        inner = self.braces()

        def evaluate(scope: Scope) -> bool:
            for document in services_of(scope.trace):
                if _is(document, wanted) and (inner is None or inner(_narrow(scope, document))):
                    return True
            return False

        return evaluate

    def edge(self) -> Predicate:
        self.advance()
        self.expect("(")
        source = self.service_id()
        self.expect(",")
        target = self.service_id()
        self.expect(")")
        inner = self.braces()

        def evaluate(scope: Scope) -> bool:
            return any(
                _is(hop.source, source)
                and _is(hop.target, target)
                and (inner is None or inner(_narrow(scope, hop.call)))
                for hop in hops(scope.trace, scope.store)
            )

        return evaluate

    def comparison(self) -> Predicate:
        token = self.advance()
        keyword = token.lowered
        if keyword in ("group.name", "group.arn"):
            return self.group(token)
        annotation = keyword.startswith("annotation.")
        if not annotation and keyword not in BOOLEAN_KEYWORDS | NUMBER_KEYWORDS | STRING_KEYWORDS:
            raise self.error("unknown keyword", token)
        key = token.text.split(".", 1)[1] if annotation else keyword
        operator_token = self.token
        operator = operator_token.lowered
        if operator not in COMPARISONS and operator not in STRING_OPERATORS:
            # A bare keyword: a boolean's value, or "is set" for the others.
            if keyword in BOOLEAN_KEYWORDS:
                return lambda s: bool(_boolean(s, keyword))
            if annotation:
                return lambda s: _annotation(s, key) is not None
            return lambda s: _value(s, keyword) not in (None, "")
        self.advance()
        value_token = self.advance()
        value = self.literal(value_token)
        if keyword in BOOLEAN_KEYWORDS:
            if operator not in ("=", "!=") or not isinstance(value, bool):
                raise self.error(f"{keyword} is a boolean: use = true / = false", operator_token)
            return lambda s: (bool(_boolean(s, keyword)) == value) == (operator == "=")
        if keyword in NUMBER_KEYWORDS and (
            operator not in COMPARISONS or not isinstance(value, float) or isinstance(value, bool)
        ):
            raise self.error(f"{keyword} is a number: compare it with a number", operator_token)
        if keyword in STRING_KEYWORDS and (
            operator not in STRING_OPERATORS | {"=", "!="} or not isinstance(value, str)
        ):
            raise self.error(
                f'{keyword} is a string: use = != CONTAINS BEGINSWITH ENDSWITH and "quotes"',
                operator_token,
            )
        if annotation:
            return lambda s: _compare(_annotation(s, key), operator, value)
        return lambda s: _compare(_value(s, keyword), operator, value)

    def group(self, token: Token) -> Predicate:
        self.expect("=")
        name_token = self.advance()
        if name_token.kind != "string":
            raise self.error("expected a group name in quotes", name_token)
        name = _unquote(name_token.text)
        if name not in self.groups:
            raise self.error(f"unknown group {name!r}", name_token)
        referenced = FilterExpression.parse(self.groups[name])
        return lambda s: referenced.matches(s.trace, s.store)

    def literal(self, token: Token) -> Any:
        if token.kind == "string":
            return _unquote(token.text)
        if token.kind == "number":
            return float(token.text)
        if token.kind == "word":
            if token.lowered in ("true", "false"):
                return token.lowered == "true"
            return token.text  # X-Ray accepts a bare word as a string
        raise self.error("expected a value", token)


# evaluation helpers ------------------------------------------------------------------------


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _root(trace: Trace) -> Document:
    roots = [
        s
        for s in trace.segments
        if not s.get("parent_id") or trace.get(str(s["parent_id"])) is None
    ]
    return roots[0] if roots else (trace.segments[0] if trace.segments else {})


def _is(document: Document, wanted: tuple[str | None, str | None]) -> bool:
    name, kind = wanted
    node_name, node_type = node_key(document)
    return (name is None or name == node_name) and (kind is None or kind == node_type)


def _narrow(scope: Scope, document: Document) -> Scope:
    return Scope(scope.trace, scope.store, document, False, scope.groups)


def _all_documents(scope: Scope) -> Iterator[Document]:
    if scope.whole_trace:
        for document, _ in scope.trace.walk():
            yield document
    else:
        yield scope.document


def _boolean(scope: Scope, keyword: str) -> bool:
    document = scope.document
    if keyword in ("ok", "error", "throttle", "fault"):
        status = status_of(document)
        return status == keyword or (keyword == "error" and status == "throttle")
    if keyword == "partial":
        return any(d.get("in_progress") for d in _all_documents(scope))
    if keyword == "inferred":
        if scope.whole_trace:
            return any(s.get("inferred") for s in scope.trace.segments)
        return bool(document.get("inferred"))
    if keyword == "root":
        parent = document.get("parent_id")
        return not parent or scope.trace.get(str(parent)) is None
    return False  # first, last, remote: root-cause only


def _value(scope: Scope, keyword: str) -> Any:
    document = scope.document
    http = document.get("http") or {}
    request, response = http.get("request") or {}, http.get("response") or {}
    if keyword == "responsetime":
        return duration_of(document)
    if keyword == "duration":
        return scope.trace.duration if scope.whole_trace else duration_of(document)
    if keyword == "http.status":
        return response.get("status")
    if keyword in ("index", "coverage"):
        return 0
    fields = {
        "http.url": request.get("url"),
        "http.method": request.get("method"),
        "http.useragent": request.get("user_agent"),
        "http.clientip": request.get("client_ip"),
        "name": document.get("name"),
        "type": node_key(document)[1],
    }
    if keyword in fields:
        return fields[keyword]
    # The keywords X-Ray reads on any segment of the trace.
    for candidate in _all_documents(scope):
        found: Any = None
        if keyword == "user":
            found = candidate.get("user")
        elif keyword == "resource.arn":
            found = candidate.get("resource_arn")
        elif keyword == "availabilityzone":
            found = ((candidate.get("aws") or {}).get("ec2") or {}).get("availability_zone")
        elif keyword == "instance.id":
            found = ((candidate.get("aws") or {}).get("ec2") or {}).get("instance_id")
        elif keyword == "message":
            exceptions = (candidate.get("cause") or {}).get("exceptions") or []
            found = next((e.get("message") for e in exceptions if e.get("message")), None)
        if found is not None:
            return found
    return None


def _annotation(scope: Scope, key: str) -> Any:
    for document in _all_documents(scope) if scope.whole_trace else [scope.document]:
        annotations = document.get("annotations") or {}
        if key in annotations:
            return annotations[key]
    return None


def _compare(actual: Any, operator: str, expected: Any) -> bool:
    if actual is None:
        return operator == "!="
    if operator in STRING_OPERATORS:
        text, part = str(actual).lower(), str(expected).lower()
        return {
            "contains": part in text,
            "beginswith": text.startswith(part),
            "endswith": text.endswith(part),
        }[operator]
    if isinstance(expected, bool) or isinstance(actual, bool):
        outcome = actual == expected
        return outcome if operator == "=" else (not outcome if operator == "!=" else False)
    if isinstance(expected, float):
        try:
            number = float(actual)
        except (TypeError, ValueError):
            return operator == "!="
        return {
            "=": number == expected,
            "!=": number != expected,
            "<": number < expected,
            "<=": number <= expected,
            ">": number > expected,
            ">=": number >= expected,
        }[operator]
    equal = str(actual) == str(expected)
    return equal if operator == "=" else (not equal if operator == "!=" else False)


# the public face ---------------------------------------------------------------------------


class FilterExpression:
    """A parsed filter expression; :meth:`matches` one trace, :meth:`select` a store's."""

    def __init__(self, text: str, predicate: Predicate, groups: Mapping[str, str]) -> None:
        self.text = text
        self._predicate = predicate
        self._groups = groups

    @classmethod
    def parse(cls, text: str, groups: Mapping[str, str] | None = None) -> FilterExpression:
        """Parse ``text``; raises :class:`FilterSyntaxError` pointing at the problem.

        ``groups`` maps group names to their expressions, for ``group.name = "..."``.
        """
        known = dict(groups or {})
        return cls(text, _Parser(text, known).parse(), known)

    def matches(self, trace: Trace, store: TraceStore) -> bool:
        if not trace.segments:
            return False
        scope = Scope(trace, store, _root(trace), True, {})
        return self._predicate(scope)

    def select(self, store: TraceStore) -> list[Trace]:
        return [trace for trace in store.traces() if self.matches(trace, store)]
