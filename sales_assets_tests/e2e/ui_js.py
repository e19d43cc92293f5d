"""JavaScript the page object (ui.py) runs in the page, where the DOM alone does not tell."""

# Chart.js draws on a canvas, so the DOM holds no points. react-chartjs-2 keeps the Chart.js
# instance in a ref of the component that renders the canvas: read the points it drew (label,
# value, pixel position) and the canvas pixels under them.
READ_CHART_JS = """canvas => {
  const fiberKey = Object.keys(canvas).find(k => k.startsWith('__reactFiber$'));
  let chart = null;
  for (let f = canvas[fiberKey]; f && !chart; f = f.return) {
    for (let h = f.memoizedState; h && typeof h === 'object' && 'next' in h; h = h.next) {
      const ref = h.memoizedState && h.memoizedState.current;
      if (ref && typeof ref.getDatasetMeta === 'function') { chart = ref; break; }
    }
  }
  if (!chart) return null;
  const ctx = canvas.getContext('2d'), scale = canvas.width / chart.width;
  const inked = (x, y) => {  // a saturated (drawn, not grid-grey) pixel within 3 px
    const d = ctx.getImageData(Math.round((x - 3) * scale), Math.round((y - 3) * scale),
                               Math.round(7 * scale), Math.round(7 * scale)).data;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] > 200 && Math.max(d[i], d[i+1], d[i+2]) - Math.min(d[i], d[i+1], d[i+2]) > 80) return true;
    }
    return false;
  };
  return {label: chart.data.datasets[0].label, points: chart.getDatasetMeta(0).data.map((p, i) => ({
    day: chart.data.labels[i], value: chart.data.datasets[0].data[i].y,
    skipped: !!p.skip, inked: inked(p.x, p.y)}))};
}"""
# An element (a dialog body, a table) that needs a horizontal scroll bar to be read.
OVERFLOWS_JS = "el => [el, ...el.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 2 && getComputedStyle(e).overflowX !== 'visible')"

# The four counts of the backfill table row holding a link (the row is a grid of divs, not a
# <tr>): climb to the first ancestor whose text ends in four numbers.
ROW_NUMBERS_JS = """a => {
  for (let el = a.parentElement; el; el = el.parentElement) {
    const lines = el.innerText.split('\\n').map(s => s.trim()).filter(Boolean);
    const tail = lines.slice(-4);
    if (lines.length > 4 && tail.every(s => /^\\d+$/.test(s))) return tail.map(Number);
  }
  return null;
}"""
