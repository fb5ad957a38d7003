"""Store stage: the Store Protocol and one module per backend."""

from industry_expert.store.base import Filters, Store

__all__ = ["Filters", "Store"]
