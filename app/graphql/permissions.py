"""Scope checks. A missing scope is a GraphQL error with extensions.code = FORBIDDEN."""

from __future__ import annotations

from typing import Any, ClassVar

from strawberry.permission import BasePermission

from app.domain.models import Scope


class _RequireScope(BasePermission):
    scope: ClassVar[Scope]
    error_extensions = {"code": "FORBIDDEN"}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.message = f"This operation needs the {cls.scope.value!r} scope"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        principal = info.context.maybe_principal
        return principal is not None and principal.has(self.scope)


class CanReadWallets(_RequireScope):
    scope = Scope.WALLET_READ


class CanWriteWallets(_RequireScope):
    scope = Scope.WALLET_WRITE


class IsAdmin(_RequireScope):
    scope = Scope.ADMIN
