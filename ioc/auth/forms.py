"""The sign-in, sign-out and refusal pages: plain, accessible HTML in Vietnamese or English.

Every value put into the page goes through html.escape; the pages load no script at all.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any
from urllib.parse import urlencode

from ioc.messages import Message

TEXTS: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Đăng nhập · IOC Giáo dục TP.HCM",
        "heading": "Đăng nhập",
        "app": "Trung tâm điều hành giáo dục TP.HCM",
        "username": "Tên đăng nhập",
        "password": "Mật khẩu",
        "submit": "Đăng nhập",
        "oidc": "Đăng nhập bằng tài khoản của Thành phố",
        "failed": "Tên đăng nhập hoặc mật khẩu không đúng.",
        "blocked": "Quá nhiều lần đăng nhập sai. Vui lòng thử lại sau ít phút.",
        "blocked_for": "Quá nhiều lần đăng nhập sai. Vui lòng thử lại sau {minutes} phút.",
        "expired": "Phiên làm việc đã hết hạn. Vui lòng đăng nhập lại.",
        "signed_out": "Bạn đã đăng xuất.",
        "csrf": "Biểu mẫu đã hết hạn. Vui lòng thử lại.",
        "oidc_failed": "Đăng nhập qua nhà cung cấp danh tính không thành công.",
        "logout_heading": "Đăng xuất",
        "logout_submit": "Đăng xuất",
        "logout_text": "Kết thúc phiên làm việc trên thiết bị này?",
        "denied_title": "Không có quyền truy cập",
        "denied_text": "Tài khoản của bạn không được xem nội dung này.",
        "home": "Về trang chính",
        "switch": "English",
    },
    "en": {
        "title": "Sign in · HCMC Education IOC",
        "heading": "Sign in",
        "app": "Ho Chi Minh City Education Operations Center",
        "username": "User name",
        "password": "Password",
        "submit": "Sign in",
        "oidc": "Sign in with the city account",
        "failed": "Wrong user name or password.",
        "blocked": "Too many failed sign-ins. Please try again in a few minutes.",
        "blocked_for": "Too many failed sign-ins. Please try again in {minutes} min.",
        "expired": "Your session has ended. Please sign in again.",
        "signed_out": "You are signed out.",
        "csrf": "The form expired. Please try again.",
        "oidc_failed": "Sign-in through the identity provider failed.",
        "logout_heading": "Sign out",
        "logout_submit": "Sign out",
        "logout_text": "End your session on this device?",
        "denied_title": "Access denied",
        "denied_text": "Your account may not see this.",
        "home": "Back to the main page",
        "switch": "Tiếng Việt",
    },
}

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#0f172a;color:#0f172a;margin:0;
display:flex;min-height:100vh;align-items:center;justify-content:center}
main{background:#fff;border-radius:10px;padding:2rem 2.25rem;width:min(24rem,92vw);box-shadow:0 10px 30px rgba(0,0,0,.35)}
h1{font-size:1.4rem;margin:.2rem 0 1rem}p.app{color:#475569;margin:0;font-size:.9rem}
label{display:block;margin:.8rem 0 .25rem;font-weight:600}
input{width:100%;box-sizing:border-box;padding:.55rem;border:1px solid #94a3b8;border-radius:6px;font-size:1rem}
input:focus,button:focus,a:focus{outline:3px solid #f59e0b;outline-offset:2px}
button{margin-top:1.2rem;width:100%;padding:.65rem;border:0;border-radius:6px;background:#1d4ed8;color:#fff;font-size:1rem;cursor:pointer}
.msg{padding:.6rem .75rem;border-radius:6px;background:#fef3c7;color:#78350f;margin:.75rem 0}
.alt{display:block;margin-top:1rem;text-align:center}.lang{float:right;font-size:.85rem}
"""


def lang_of(value: str | None) -> str:
    return "en" if value == "en" else "vi"


def page(lang: str, title: str, body: str) -> str:
    t = TEXTS[lang_of(lang)]
    return (
        f'<!DOCTYPE html><html lang="{lang_of(lang)}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f'<body><main><p class="app">{escape(t["app"])}</p>{body}</main></body></html>'
    )


def login_page(
    lang: str,
    *,
    csrf: str,
    next_url: str,
    message: str | None = None,
    username: str = "",
    oidc: bool = False,
    wait_seconds: float | None = None,
) -> str:
    """The sign-in page; ``wait_seconds`` (with message 'blocked') says how long to wait."""
    t = TEXTS[lang_of(lang)]
    other = "en" if lang_of(lang) == "vi" else "vi"
    text = t[message] if message else ""
    if message == "blocked" and wait_seconds:
        text = t["blocked_for"].format(minutes=max(1, math.ceil(wait_seconds / 60)))
    notice = f'<p class="msg" role="alert">{escape(text)}</p>' if message else ""
    switch = "/login?" + urlencode({"lang": other, "next": next_url})
    oidc_link = (
        f'<a class="alt" href="/auth/oidc/login?{escape(urlencode({"next": next_url, "lang": lang_of(lang)}))}">'
        f"{escape(t['oidc'])}</a>"
        if oidc
        else ""
    )
    body = (
        f'<a class="lang" href="{escape(switch)}" lang="{other}">{escape(t["switch"])}</a>'
        f"<h1>{escape(t['heading'])}</h1>{notice}"
        f'<form method="post" action="/login" autocomplete="on">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<input type="hidden" name="next" value="{escape(next_url)}">'
        f'<input type="hidden" name="lang" value="{lang_of(lang)}">'
        f'<label for="username">{escape(t["username"])}</label>'
        f'<input id="username" name="username" autocomplete="username" required maxlength="64" value="{escape(username)}" autofocus>'
        f'<label for="password">{escape(t["password"])}</label>'
        f'<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="256">'
        f'<button type="submit">{escape(t["submit"])}</button></form>{oidc_link}'
    )
    return page(lang, t["title"], body)


def logout_page(lang: str, *, csrf: str) -> str:
    t = TEXTS[lang_of(lang)]
    body = (
        f"<h1>{escape(t['logout_heading'])}</h1><p>{escape(t['logout_text'])}</p>"
        f'<form method="post" action="/logout"><input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<input type="hidden" name="lang" value="{lang_of(lang)}">'
        f'<button type="submit">{escape(t["logout_submit"])}</button></form>'
        f'<a class="alt" href="/">{escape(t["home"])}</a>'
    )
    return page(lang, t["logout_heading"], body)


def denied_page(lang: str, reason: Message) -> str:
    """The refusal page: its heading, text and the reason in the page's language (the audit log
    keeps the reason in English)."""
    t = TEXTS[lang_of(lang)]
    body = (
        f"<h1>{escape(t['denied_title'])}</h1><p>{escape(t['denied_text'])}</p>"
        f'<p class="msg">{escape(reason.text(lang_of(lang)))}</p><a class="alt" href="/">{escape(t["home"])}</a>'
    )
    return page(lang, t["denied_title"], body)


def audit_page(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    head = "".join(f'<th scope="col">{escape(c)}</th>' for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(r.get(c, '')))}</td>" for c in columns) + "</tr>" for r in rows
    )
    style = "main{width:min(90rem,96vw)}table{border-collapse:collapse;font-size:.85rem;width:100%}td,th{border:1px solid #cbd5e1;padding:.25rem .4rem;text-align:left;vertical-align:top}"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Audit log</title>'
        f"<style>{STYLE}{style}</style></head><body><main><h1>Audit log · Nhật ký truy cập</h1>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></main></body></html>"
    )
