"""The trace data and its views: what X-Ray keeps, and what its console shows of it.

Emulates the read side of X-Ray after its API reference and the developer guide:
``store`` assembles documents as ``BatchGetTraces`` returns them (independent
subsegments merged, inferred segments for AWS calls), ``summary`` checks documents as
``PutTraceSegments`` does and builds ``TraceSummary``, ``filters`` evaluates the
console's filter expressions ("Using filter expressions"), ``service_graph`` builds the
graph ``GetServiceGraph`` returns ("Using the X-Ray trace map"), ``analysis`` finds the
critical path and self times, and ``text``, ``svg`` and ``console`` draw timelines and
maps as the console does. Imports nothing else of the dev tools but the loopback
plumbing (the console's server).
"""
