// The mining panel: start/stop, the number of workers, the GPU checkbox
// (experimental, off by default; disabled with the reason where WebGPU or an
// adapter is missing, or after the GPU failed), and the hash rate, blocks
// found by this tab, difficulty and expected time per block. Start, stop and
// the GPU are the browser's: one tab of it mines (see mining-lock.js), and
// the others say so.

import { $, formatRate, formatDuration } from './dom.js';

const workersWanted = () => Number.parseInt($('mine-workers').value, 10) || 0;
const gpuWanted = () => $('mine-gpu').checked;

/** Binds the toggle and the workers field (default: all cores but one). */
export function mount(host) {
  $('mine-workers').max = String(navigator.hardwareConcurrency || 4);
  $('mine-workers').value = String(host.miner.defaultWorkers);
  $('mine-toggle').addEventListener('click', () => {
    host.miner.set(!host.miner.lock.on, workersWanted(), gpuWanted());
  });
  $('mine-workers').addEventListener('change', () => {
    if (host.miner.lock.on) host.miner.set(true, workersWanted(), gpuWanted());
  });
  $('mine-gpu').addEventListener('change', () => {
    host.miner.set(host.miner.lock.on, workersWanted(), gpuWanted());
  });
  // Mining started from window.tabchain.mine shows its worker count here too.
  host.addEventListener('workers', (event) => {
    $('mine-workers').value = String(event.detail);
  });
}

/** Shows whether the tab mines, how fast, and how long a block should take. */
export function render({ host, node, status }) {
  if (!node) return;
  $('mine-toggle').textContent = host.miner.lock.on || host.miner.pool.enabled ? 'Stop mining' : 'Start mining';
  const rate = host.miner.hashrate();
  $('mine-rate').textContent = host.miner.lock.elsewhere ? 'mining in another tab' : formatRate(rate);
  $('mine-found').textContent = String(host.miner.mined);
  $('mine-difficulty').textContent = status.expectedHashes ? Math.round(status.expectedHashes).toLocaleString() : '–';
  $('mine-eta').textContent = rate > 0 ? formatDuration(status.expectedHashes / rate) : '–';
  renderGpu(host.miner.gpuStatus());
}

/** The GPU checkbox follows the browser's setting; the note says what the GPU does, or why it cannot. */
function renderGpu(gpu) {
  const box = $('mine-gpu');
  box.disabled = !gpu.supported;
  box.checked = gpu.supported && gpu.enabled;
  let note;
  if (gpu.failed) note = `GPU turned off: ${gpu.reason}`;
  else if (!gpu.supported) note = `GPU unavailable: ${gpu.reason}`;
  else if (gpu.running) note = `GPU: ${gpu.adapter}, ${formatRate(gpu.hashrate)}`;
  else note = `GPU: ${gpu.adapter}${gpu.enabled ? ' (on when mining here)' : ', off'}`;
  if ($('mine-gpu-note').textContent !== note) $('mine-gpu-note').textContent = note;
}
