"""What every page a browser test reaches must pass: axe with zero violations, no
horizontal scrolling at 320 CSS px (200 % zoom on a 640 px screen), tap targets of at
least 44 x 44 CSS px, no Content-Security-Policy violations, and the Nu HTML Checker
with no errors on the HTML the server sent."""

from __future__ import annotations

NARROW = {"width": 320, "height": 640}
MIN_TARGET = 44

# Every visible link, button and form control is a tap target. Two exceptions, both as
# WCAG 2.5.8 allows:
# - a link inside a paragraph of running text (e.g. "call or text 988" in a sentence)
#   is an inline target whose size the line of text sets; it is skipped when the
#   paragraph holds more text than the link itself. A link alone in its paragraph, or in
#   a list, table or nav, must be 44 x 44.
# - a radio button or checkbox wrapped in its <label> is measured by that label: tapping
#   anywhere on the label ticks it, so the label is the target.
# Elements moved off screen (the skip link until it has focus) are not visible.
TAP_TARGETS_JS = """
(min) => {
  const found = [];
  const selector =
    'a[href], button, input:not([type="hidden"]), select, textarea, summary';
  for (const el of document.querySelectorAll(selector)) {
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none') continue;
    let box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if (box.right <= 0 || box.bottom + window.scrollY <= 0) continue;
    if (el.tagName === 'A' && !el.classList.contains('button')) {
      const paragraph = el.parentElement.closest('p');
      if (paragraph && paragraph.textContent.trim() !== el.textContent.trim()) continue;
    }
    if ((el.type === 'radio' || el.type === 'checkbox') && el.closest('label')) {
      box = el.closest('label').getBoundingClientRect();
    }
    if (box.width < min - 0.5 || box.height < min - 0.5) {
      const size = `${Math.round(box.width)}x${Math.round(box.height)}`;
      found.push(`${el.outerHTML.slice(0, 140)} is ${size}`);
    }
  }
  return found;
}
"""

OVERFLOW_JS = """
() => {
  const root = document.documentElement;
  const wide = [];
  if (root.scrollWidth > root.clientWidth) {
    for (const el of document.body.querySelectorAll('*')) {
      const box = el.getBoundingClientRect();
      if (box.right > root.clientWidth + 0.5 && box.width > 0) {
        const name = `${el.tagName.toLowerCase()}.${el.className}`;
        wide.push(`${name} right edge ${Math.round(box.right)}`);
      }
    }
  }
  return {scroll: root.scrollWidth, client: root.clientWidth, wide: wide.slice(0, 8)};
}
"""


def _axe_report(page) -> str | None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    if results.violations_count == 0:
        return None
    return results.generate_report()


def _narrow_problems(page) -> list[str]:
    """Reflow and tap targets at 320 CSS px wide."""
    wide = page.viewport_size
    page.set_viewport_size(NARROW)
    try:
        page.wait_for_timeout(50)
        problems = []
        overflow = page.evaluate(OVERFLOW_JS)
        if overflow["scroll"] > overflow["client"]:
            problems.append(
                f"scrolls sideways at 320 px: scrollWidth {overflow['scroll']} > "
                f"clientWidth {overflow['client']}; too wide: {overflow['wide']}"
            )
        problems += [
            f"tap target under {MIN_TARGET}x{MIN_TARGET}: {small}"
            for small in page.evaluate(TAP_TARGETS_JS, MIN_TARGET)
        ]
        return problems
    finally:
        page.set_viewport_size(wide)


class PageChecker:
    """Audits pages as a test reaches them and remembers which ones it saw."""

    def __init__(self, html_checker=None) -> None:
        self.checked: list[str] = []
        self.csp_errors: dict[object, list[str]] = {}
        self.documents: dict[object, object] = {}
        self.html_checker = html_checker

    def watch(self, page) -> None:
        """Record Content-Security-Policy violations the page reports on its console,
        and the last document the server sent it (for the HTML checker)."""
        errors = self.csp_errors.setdefault(page, [])

        def note(message) -> None:
            if "Content Security Policy" in message.text:
                errors.append(message.text)

        def keep_document(response) -> None:
            if (
                response.request.resource_type == "document"
                and response.frame == page.main_frame
            ):
                self.documents[page] = response

        page.on("console", note)
        page.on("response", keep_document)

    def _served_html(self, page) -> str:
        """The HTML as the server (or the service worker's cache) sent it; the page's
        DOM only when the body can no longer be read."""
        response = self.documents.get(page)
        if response is not None and response.url == page.url:
            try:
                return response.text()
            except Exception:  # noqa: S110 - a body the browser let go of: the DOM then
                pass
        return page.content()

    def _html_problems(self, page) -> list[str]:
        if self.html_checker is None:
            return []
        return [
            f"HTML: {error}"
            for error in self.html_checker.errors(self._served_html(page))
        ]

    def __call__(self, page, name: str) -> None:
        page.wait_for_load_state("load")
        problems = []
        report = _axe_report(page)
        if report:
            problems.append(report)
        problems += _narrow_problems(page)
        problems += self._html_problems(page)
        problems += [f"CSP: {text}" for text in self.csp_errors.get(page, [])]
        self.checked.append(name)
        if problems:
            raise AssertionError(
                f"Page '{name}' ({page.url}) has problems:\n" + "\n".join(problems)
            )
