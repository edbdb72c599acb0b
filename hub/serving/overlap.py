"""The work of checking that fields asked under one response key can be merged.

GraphQL's validation rule "overlapping fields can be merged" compares, pairwise, every two
fields that end up under the same response key once fragments are spread, and again the
fields below each such pair. Its work grows with the square of the repetitions: a 3 kB
document repeating `regions { code }` 200 times kept graphql-core busy for 0.3 s, and the
same document with a space more is a new document. Before validation, the hub counts
those comparisons on the expanded document (linear in its size, which the field limit
already bounds) and refuses a document that needs more than its budget.

Ordinary documents need a few hundred comparisons at most: a field repeated by 50
fragments of one client costs 1,225.
"""

from __future__ import annotations

from collections import defaultdict

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

MAX_DEPTH = 64  # far past the depth limit, which runs first


class _Exhausted(Exception):
    pass


class MergeWork:
    """Counts field comparisons, stopping as soon as they pass `budget` (or the expansion
    passes `max_nodes`, for a fragment no operation spreads)."""

    def __init__(self, document: DocumentNode, budget: int, max_nodes: int = 50_000) -> None:
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.roots = [
            d.selection_set
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode | FragmentDefinitionNode)
        ]
        self.budget = budget
        self.max_nodes = max_nodes
        self.comparisons = 0
        self._nodes = 0

    def within_budget(self) -> bool:
        try:
            for root in self.roots:
                self._merge([root])
        except _Exhausted:
            return False
        return True

    def _merge(self, sets: list[SelectionSetNode], depth: int = 0) -> None:
        """The selection sets that merge into one (those of fields under one key), their
        fields grouped by response key: each group's pairs are compared, and the fields
        below each group merge in turn."""
        if depth > MAX_DEPTH:  # only fragments that spread themselves go this deep, and
            return  # validation refuses those
        groups: dict[str, list[FieldNode]] = defaultdict(list)
        spreads: set[str] = set()
        for selection_set in sets:
            self._collect(selection_set, groups, spreads, set())
        pairs = len(spreads) * (len(spreads) - 1) // 2  # fragments compared with each other
        for fields in groups.values():
            pairs += len(fields) * (len(fields) - 1) // 2
        self._spend(pairs)
        for fields in groups.values():
            below = [f.selection_set for f in fields if f.selection_set is not None]
            if below:
                self._merge(below, depth + 1)

    def _collect(
        self,
        selection_set: SelectionSetNode,
        groups: dict[str, list[FieldNode]],
        spreads: set[str],
        busy: set[str],
    ) -> None:
        for selection in selection_set.selections:
            self._nodes += 1
            if self._nodes > self.max_nodes:
                raise _Exhausted
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                groups[key].append(selection)
            elif isinstance(selection, InlineFragmentNode):
                self._collect(selection.selection_set, groups, spreads, busy)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                spreads.add(name)
                if fragment is not None and name not in busy:  # cycles fail validation
                    busy.add(name)
                    self._collect(fragment.selection_set, groups, spreads, busy)
                    busy.discard(name)

    def _spend(self, pairs: int) -> None:
        self.comparisons += pairs
        if self.comparisons > self.budget:
            raise _Exhausted
