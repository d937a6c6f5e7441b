"""Who may do what at the counter, as on a 大POS: the rule the services enforce.

A cashier (role ``operator``) sells, reprints the last stub, prints an X report and switches
the language. Voids 撤销, refunds 退货, settlement 结算 and operator management move money or
close the batch: they need a supervisor 主管, whose approval is recorded as the acting
operator. Technicians are kept apart from money (separation of duties). The scheduled
settlement (the systemd timer) acts as ``SCHEDULE``, a principal that may settle and nothing
else. The touchscreen only hides what a role cannot do; the services call ``require``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from appliance.errors import Refused

#: action → the roles that may do it.
RULES: dict[str, frozenset[str]] = {
    "sale": frozenset({"operator", "supervisor"}),
    "reprint_last": frozenset({"operator", "supervisor"}),
    "x_report": frozenset({"operator", "supervisor"}),
    "language": frozenset({"operator", "supervisor", "technician"}),
    "void": frozenset({"supervisor"}),
    "refund": frozenset({"supervisor"}),
    "settle": frozenset({"supervisor", "system"}),
    "operators": frozenset({"supervisor", "technician"}),
}


class Principal(Protocol):
    """Whoever approves an action: an operator from the operator store, or ``SCHEDULE``."""

    @property
    def number(self) -> str:
        """The operator number recorded in the journal and the audit log."""
        ...

    @property
    def role(self) -> str:
        """``operator``, ``supervisor``, ``technician`` or ``system``."""
        ...


@dataclass(frozen=True)
class System:
    """A principal that is not a person (the scheduled settlement)."""

    number: str
    role: str = "system"


#: The systemd timer's settlement (``countertop settle --if-due``).
SCHEDULE = System("--")


class RoleRefused(Refused):
    """The approving operator's role does not allow the action (code ``role.refused``)."""

    default_code = "role.refused"


def allowed(principal: Principal | None, action: str) -> bool:
    """True when ``principal`` may do ``action`` (an unknown action is allowed to nobody)."""
    if principal is None:
        return False
    return str(principal.role).lower() in RULES.get(action, frozenset())


def require(principal: Principal | None, action: str) -> Principal:
    """``principal`` if it may do ``action``; RoleRefused (code and params) if not."""
    if principal is not None and allowed(principal, action):
        return principal
    needed = "supervisor" if "supervisor" in RULES.get(action, ()) else "technician"
    if principal is None:
        raise RoleRefused(
            f"{action} needs a {needed}'s approval and none was given",
            code="role.approval_missing",
            params={"action": action, "role": needed},
        )
    raise RoleRefused(
        f"{action} needs a {needed}; operator {principal.number} is a {principal.role}",
        params={"action": action, "role": needed, "number": principal.number},
    )
