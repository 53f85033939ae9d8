'use strict';
// The page of `linclass serve`: draw or drop an image, send it to /v1/models/{name}/explain, and
// show what the model saw, its top classes, and the evidence behind each score.

const $ = (id) => document.getElementById(id);
const state = { models: [], model: null, last: null, result: null, busy: false, again: false, pair: null };

async function init() {
  const answer = await fetch('/v1/models');
  state.models = await answer.json();
  for (const m of state.models) {
    $('model').append(new Option(`${m.name} (${m.dataset}, ${m.classes.length} classes)`, m.name));
  }
  $('model').onchange = () => choose($('model').value);
  const first = state.models.find((m) => m.digits) || state.models[0];
  $('model').value = first.name;
  choose(first.name);
}

function choose(name) {
  const m = state.models.find((x) => x.name === name);
  state.model = m;
  state.result = null;
  state.pair = null;
  const mnistShaped = m.input_shape.join() === '1,28,28';
  $('draw').hidden = m.input_shape[0] !== 1;
  $('prepare').parentElement.hidden = !mnistShaped;
  $('prepare').checked = m.digits;
  for (const id of ['class-a', 'class-b']) {
    $(id).replaceChildren(...m.classes.map((c, i) => new Option(c, i)));
  }
  clearPad();
  forget();
  if (state.last && state.last.kind === 'file') send();
}

// Takes every answer off the page (a new drawing, an error, another model).
function forget() {
  state.result = null;
  for (const id of ['top', 'cards', 'versus']) $(id).replaceChildren();
  $('prepared').textContent = '';
  $('seen').getContext('2d').clearRect(0, 0, $('seen').width, $('seen').height);
}

// ---- drawing -------------------------------------------------------------------------------

const pad = $('pad');
const ink = pad.getContext('2d');
let drawing = false;
let from = null;

function clearPad() {
  ink.fillStyle = '#000';
  ink.fillRect(0, 0, pad.width, pad.height);
  if (state.last && state.last.kind === 'pad') state.last = null;
}

function at(e) {
  const r = pad.getBoundingClientRect();
  return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
}

function stroke(a, b) {
  if (a[0] === b[0] && a[1] === b[1]) {
    // A zero-length line draws nothing: a click leaves a round dot.
    ink.fillStyle = '#fff';
    ink.beginPath();
    ink.arc(a[0], a[1], 10, 0, 2 * Math.PI);
    ink.fill();
    return;
  }
  ink.strokeStyle = '#fff';
  ink.lineWidth = 20;
  ink.lineCap = 'round';
  ink.lineJoin = 'round';
  ink.beginPath();
  ink.moveTo(a[0], a[1]);
  ink.lineTo(b[0], b[1]);
  ink.stroke();
}

pad.addEventListener('pointerdown', (e) => {
  e.preventDefault();
  pad.setPointerCapture(e.pointerId);
  drawing = true;
  from = at(e);
  stroke(from, from);
  $('file').value = '';
  $('preview').hidden = true;
  state.last = { kind: 'pad' };
  schedule();
});
pad.addEventListener('pointermove', (e) => {
  if (!drawing) return;
  const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
  for (const ev of events.length ? events : [e]) {
    const to = at(ev);
    stroke(from, to);
    from = to;
  }
  schedule();
});
for (const type of ['pointerup', 'pointercancel']) {
  pad.addEventListener(type, () => {
    if (!drawing) return;
    drawing = false;
    schedule();
  });
}
$('clear').onclick = () => {
  clearPad();
  $('file').value = '';
  $('preview').hidden = true;
  forget();
};
$('prepare').onchange = () => state.last && send();

// ---- files: picker, drop, paste --------------------------------------------------------------

function useFile(file) {
  if (!file) return;
  clearPad();
  const preview = $('preview');
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  state.last = { kind: 'file', blob: file, name: file.name || 'pasted image' };
  send();
}
$('file').onchange = () => useFile($('file').files[0]);
// A file dropped anywhere on the page is used (not opened by the browser in its place).
const drop = $('drop');
document.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
document.addEventListener('dragleave', () => drop.classList.remove('over'));
document.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  useFile(e.dataTransfer.files[0]);
});
document.addEventListener('paste', (e) => {
  const item = [...e.clipboardData.items].find((i) => i.kind === 'file');
  if (item) useFile(item.getAsFile());
});

// ---- asking the server -----------------------------------------------------------------------

// Classifies live while drawing: one request at a time, and one more after it if the drawing
// changed meanwhile.
function schedule() {
  if (state.busy) { state.again = true; return; }
  send();
}

async function send() {
  if (!state.last) return;
  state.busy = true;
  try {
    const blob = state.last.kind === 'pad'
      ? await new Promise((done) => pad.toBlob(done, 'image/png'))
      : state.last.blob;
    const m = state.model;
    const query = new URLSearchParams();
    if (m.input_shape.join() === '1,28,28') {
      const drawn = state.last.kind === 'pad' ? 'digit' : 'auto';
      query.set('prepare', $('prepare').checked ? drawn : 'none');
    }
    query.set('classes', wanted(m));
    // A multipart upload, so that the server names the file in its errors.
    const form = new FormData();
    form.append('file', blob, state.last.kind === 'pad' ? 'drawing.png' : state.last.name);
    const answer = await fetch(`/v1/models/${encodeURIComponent(m.name)}/explain?${query}`, {
      method: 'POST', body: form,
    });
    const body = await answer.json();
    if (!answer.ok) throw new Error(body.error || answer.statusText);
    $('error').hidden = true;
    if (m === state.model) render(body);
  } catch (err) {
    forget();
    $('error').textContent = err.message;
    $('error').hidden = false;
  } finally {
    state.busy = false;
    if (state.again) { state.again = false; send(); }
  }
}

// The classes to explain: all of a small model's; else the ranked ones and the chosen pair.
function wanted(m) {
  if (m.classes.length <= 20) return 'all';
  const pair = state.pair && state.pair.chosen ? [state.pair.a, state.pair.b] : [];
  return ['top', ...pair].join(',');
}

// ---- showing the answer ----------------------------------------------------------------------

function render(result) {
  state.result = result;
  seen(result.input);
  $('prepared').textContent = result.prepared ? `prepared as an MNIST digit: ${result.prepared.join(', ')}` : '';
  $('top').replaceChildren(...result.top.map((r) => {
    const li = document.createElement('li');
    li.innerHTML = `<span class="class"></span><span class="bar"><i></i></span><span class="p"></span>`;
    li.querySelector('.class').textContent = r.class;
    li.querySelector('i').style.width = `${(100 * r.probability).toFixed(1)}%`;
    li.querySelector('.p').textContent = `${(100 * r.probability).toFixed(2)}%`;
    li.dataset.probability = r.probability;
    return li;
  }));
  const byIndex = new Map(result.classes.map((c) => [c.index, c]));
  const shown = result.top.slice(0, 3).map((r) => byIndex.get(r.index)).filter(Boolean);
  $('cards').replaceChildren(...shown.map((c, rank) => card(c, rank, result.input.shape)));
  if (!state.pair || !state.pair.chosen) {
    state.pair = { a: result.top[0].index, b: (result.top[1] || result.top[0]).index, chosen: false };
  }
  $('class-a').value = state.pair.a;
  $('class-b').value = state.pair.b;
  contrast();
}

function seen(input) {
  const [c, h, w] = input.shape;
  const canvas = $('seen');
  canvas.width = w;
  canvas.height = h;
  const image = new ImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    for (let k = 0; k < 3; k++) image.data[4 * i + k] = input.pixels[(c === 3 ? k * h * w : 0) + i];
    image.data[4 * i + 3] = 255;
  }
  canvas.getContext('2d').putImageData(image, 0, 0);
}

const fmt = (v) => (v < 0 && v.toFixed(3) !== '-0.000' ? '−' : '') + Math.abs(v).toFixed(3);
const number = (v, role) => `<b data-role="${role}" data-value="${v}">${fmt(v)}</b>`;

function card(c, rank, shape) {
  const div = document.createElement('div');
  div.className = 'card';
  div.dataset.class = c.class;
  div.innerHTML = `<h3>${rank + 1}. <span></span> · ${(100 * c.probability).toFixed(2)}%</h3>
    <div class="maps"></div>
    <div class="sum">Σ evidence ${number(c.evidence_sum, 'sum')} + bias ${number(c.bias, 'bias')}
      = score ${number(c.score, 'score')}</div>`;
  div.querySelector('h3 span').textContent = c.class;
  const maps = div.querySelector('.maps');
  maps.append(figure(c.template, shape, 'template W', shape[0] === 3), figure(c.evidence, shape, 'evidence W ⊙ x'));
  return div;
}

function contrast() {
  const r = state.result;
  if (!r) return;
  const byIndex = new Map(r.classes.map((c) => [c.index, c]));
  const a = byIndex.get(Number(state.pair.a));
  const b = byIndex.get(Number(state.pair.b));
  if (!a || !b) {
    // A class of a large model outside the explained ones: ask once more, with it.
    if (!state.asked) { state.asked = true; send(); }
    return;
  }
  state.asked = false;
  const minus = (x, y) => x.map((v, i) => v - y[i]);
  const evidence = minus(a.evidence, b.evidence);
  const sum = evidence.reduce((s, v) => s + v, 0);
  const div = document.createElement('div');
  div.className = 'card';
  div.innerHTML = `<div class="maps"></div>
    <div class="sum">Σ (W<sub>a</sub> − W<sub>b</sub>) ⊙ x ${number(sum, 'sum')}
      + (b<sub>a</sub> − b<sub>b</sub>) ${number(a.bias - b.bias, 'bias')}
      = s<sub>a</sub> − s<sub>b</sub> ${number(a.score - b.score, 'score')}
      = ln(p<sub>a</sub> / p<sub>b</sub>)</div>`;
  div.querySelector('.maps').append(
    figure(minus(a.template, b.template), r.input.shape, 'template a − b'),
    figure(evidence, r.input.shape, 'evidence a − b'),
  );
  $('versus').replaceChildren(div);
}

for (const [id, key] of [['class-a', 'a'], ['class-b', 'b']]) {
  $(id).onchange = () => {
    state.pair[key] = Number($(id).value);
    state.pair.chosen = true;
    contrast();
  };
}

// A map of C×H×W values: channels summed, on a blue–white–red scale centred on zero; or, for an
// RGB template, its colours stretched to the full range, as the lecture shows templates.
function figure(values, shape, caption, colour = false) {
  const [c, h, w] = shape;
  const plane = h * w;
  const canvas = document.createElement('canvas');
  canvas.className = 'map';
  canvas.width = w;
  canvas.height = h;
  const image = new ImageData(w, h);
  let scale;
  if (colour) {
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    scale = `${fmt(lo)} … ${fmt(hi)}`;
    for (let i = 0; i < plane; i++) {
      for (let k = 0; k < 3; k++) image.data[4 * i + k] = 255 * (values[k * plane + i] - lo) / ((hi - lo) || 1);
      image.data[4 * i + 3] = 255;
    }
  } else {
    const summed = new Float32Array(plane);
    for (let k = 0; k < c; k++) for (let i = 0; i < plane; i++) summed[i] += values[k * plane + i];
    const m = summed.reduce((x, v) => Math.max(x, Math.abs(v)), 0) || 1;
    scale = `±${m.toPrecision(2)}`;
    for (let i = 0; i < plane; i++) {
      const t = summed[i] / m;
      const [r, g, b] = t >= 0 ? [178, 24, 43] : [33, 102, 172];
      const s = Math.abs(t);
      image.data[4 * i] = 255 + (r - 255) * s;
      image.data[4 * i + 1] = 255 + (g - 255) * s;
      image.data[4 * i + 2] = 255 + (b - 255) * s;
      image.data[4 * i + 3] = 255;
    }
  }
  canvas.getContext('2d').putImageData(image, 0, 0);
  const fig = document.createElement('figure');
  const label = document.createElement('figcaption');
  label.textContent = `${caption} (${scale})`;
  fig.append(canvas, label);
  return fig;
}

init().catch((err) => {
  $('error').textContent = `the server did not answer: ${err.message}`;
  $('error').hidden = false;
});
