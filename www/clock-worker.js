// The clock's worker (see clock.js): timers in a worker are not throttled
// when the tab is hidden, as the page's own timers are. Messages in:
// `{id, ms, repeat}` starts a timer, `{id, cancel: true}` stops one; out:
// `id` each time a timer fires.

const timers = new Map();

self.onmessage = ({ data }) => {
  clearTimeout(timers.get(data.id));
  clearInterval(timers.get(data.id));
  timers.delete(data.id);
  if (data.cancel) return;
  if (data.repeat) {
    timers.set(data.id, setInterval(() => self.postMessage(data.id), data.ms));
  } else {
    timers.set(
      data.id,
      setTimeout(() => {
        timers.delete(data.id);
        self.postMessage(data.id);
      }, data.ms),
    );
  }
};
