"""Refusals the console shows as a page (the JSON API has its own, in ``server.errors``)."""

from __future__ import annotations


class ConsoleError(Exception):
    """Base class: something the console refuses; nothing was changed."""

    status = 400
    title = "无法完成"
    message = "请求无法完成"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message


class FormExpired(ConsoleError):
    """A form came back without the session's CSRF token (stale page, or another site)."""

    status = 400
    title = "表单已失效"
    message = "页面已过期或不是从本控制台提交的。请返回，刷新页面后重新提交。"


class NotAllowed(ConsoleError):
    """The user's role may not do this."""

    status = 403
    title = "无权操作"
    message = "您的角色无权进行此操作。"


class Missing(ConsoleError):
    """No such thing within the user's scope."""

    status = 404
    title = "找不到"
    message = "没有找到，或不在您的管辖范围内。"
