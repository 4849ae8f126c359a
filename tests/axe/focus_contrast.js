// The focused element's outline against the background around it, as WCAG computes contrast:
// {el, ratio}, or null when nothing is focused. No outline (or a thinner one than 2px) is 0.
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const parse = (c) => {
    const m = c.match(/[\d.]+/g).map(Number);
    return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1];
  };
  const backdrop = (node) => {
    for (let n = node; n; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c[3] > 0) return c;
    }
    return [255, 255, 255, 1];
  };
  const luminance = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const where = el.outerHTML.slice(0, 80);
  const style = getComputedStyle(el);
  if (style.outlineStyle === "none" || parseFloat(style.outlineWidth) < 2) {
    return { el: where, ratio: 0 };
  }
  const bg = backdrop(el.parentElement);
  const o = parse(style.outlineColor);
  const mixed = [0, 1, 2].map((i) => o[i] * o[3] + bg[i] * (1 - o[3]));
  const [a, b] = [luminance(mixed), luminance(bg)].sort((x, y) => y - x);
  return { el: where, ratio: (a + 0.05) / (b + 0.05) };
}
