// Layout and accessibility: the page fits every screen from a 360 px phone to
// a desktop (no sideways scrolling, no panel past the right edge; a
// screenshot of each size), axe-core finds nothing serious or critical at
// any of them, and the keyboard alone can write and send a post, start
// mining, and open a block in the explorer.
//
// Screenshots (layout-WIDTHxHEIGHT.png) go to TABCHAIN_SCREENSHOT_DIR when
// set, else to tabchain-layout/ in the temp dir, replaced at every run.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Relay, launchBrowser, openTab, waitFor } from './harness.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const AXE = readFileSync(join(HERE, 'node_modules/axe-core/axe.min.js'), 'utf8');
const SHOTS = process.env.TABCHAIN_SCREENSHOT_DIR || join(tmpdir(), 'tabchain-layout');
const SIZES = [
  { width: 360, height: 740 },
  { width: 390, height: 844 },
  { width: 1280, height: 800 },
];
// Long enough to wrap at any width, with a word longer than a phone is wide.
const LONG_POST = `A long post: ${'0123456789abcdef'.repeat(6)} and then some ordinary words after it.`;

let relay;
let browser;
let page;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  relay = await Relay.start();
  browser = await launchBrowser();
  page = await openTab(browser.context, relay);
  // Content for every panel: a confirmed post, two blocks or more, a pending post.
  const txId = await page.evaluate((text) => window.tabchain.post('layout', text), LONG_POST);
  await page.evaluate(() => window.tabchain.mine(true, 1));
  const mined = (id) => window.tabchain.height() >= 2 && window.tabchain.posts().some((p) => p.txId === id);
  await waitFor(page, mined, txId, { what: 'two blocks mined, the post confirmed' });
  await page.evaluate(() => window.tabchain.mine(false));
  await page.evaluate(() => window.tabchain.post('someone-with-a-rather-long-author-name', 'still pending'));
  // The explorer's block detail and the tamper demo's copies: the widest content.
  await page.click('#explorer tbody tr');
  await waitFor(page, () => document.querySelector('#block-detail').textContent.startsWith('{'), undefined, {
    what: 'the block detail',
  });
  await page.click('#tamper-load');
  await page.locator('#tamper li').first().waitFor();
});

after(async () => {
  await browser?.close();
  await relay?.stop();
});

/** axe-core's serious and critical violations on the page, as readable lines. */
async function axeViolations(target) {
  await target.evaluate(AXE); // evaluate is not subject to the page's CSP (no inline scripts)
  const violations = await target.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')),
    }));
  });
  for (const v of violations) console.log(`axe ${v.impact}: ${v.id} (${v.help}) at ${v.nodes.join(', ')}`);
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

for (const size of SIZES) {
  test(`${size.width}×${size.height}: fits the viewport, screenshot, no serious axe violations`, async () => {
    await page.setViewportSize(size);
    await page.waitForTimeout(300); // a render after the resize
    const fit = await page.evaluate(() => {
      const width = window.innerWidth;
      // Elements past the right edge that nothing clips or scrolls.
      const clipped = (node) => {
        for (let up = node.parentElement; up && up !== document.body; up = up.parentElement) {
          if (getComputedStyle(up).overflowX !== 'visible') return true;
        }
        return false;
      };
      const name = (node) =>
        node.tagName.toLowerCase() +
        (node.id ? `#${node.id}` : '') +
        (typeof node.className === 'string' && node.className ? `.${node.className.split(' ').join('.')}` : '');
      const outside = [...document.body.querySelectorAll('*')]
        .filter((node) => {
          const rect = node.getBoundingClientRect();
          return rect.width > 0 && rect.right > width + 0.5 && !clipped(node);
        })
        .map((node) => `${name(node)} right=${Math.round(node.getBoundingClientRect().right)}`);
      const panels = [...document.querySelectorAll('header, main, .panel')].map((node) => ({
        name: name(node),
        left: node.getBoundingClientRect().left,
        right: node.getBoundingClientRect().right,
      }));
      return { width, scrollWidth: document.documentElement.scrollWidth, outside, panels };
    });
    const path = join(SHOTS, `layout-${size.width}x${size.height}.png`);
    await page.screenshot({ path, fullPage: true });
    console.log(`screenshot: ${path}`);
    const violations = await axeViolations(page);
    assert.equal(fit.width, size.width);
    assert.ok(fit.scrollWidth <= fit.width, `the document is ${fit.scrollWidth} px wide in a ${fit.width} px viewport`);
    assert.deepEqual(fit.outside.slice(0, 10), [], 'no element reaches past the right edge');
    for (const panel of fit.panels) {
      assert.ok(panel.left >= 0 && panel.right <= fit.width, `${panel.name} spans ${panel.left}..${panel.right}`);
    }
    const header = fit.panels.find((p) => p.name === 'header');
    assert.equal(Math.round(header.right - header.left), size.width, 'the header spans the viewport');
    assert.deepEqual(violations, [], 'no serious or critical accessibility violations');
  });
}

test('the keyboard alone sends a post, starts mining and opens a block', async () => {
  const tab = await openTab(browser.context, relay);
  try {
    await tab.setViewportSize({ width: 360, height: 740 });
    const focused = () =>
      tab.evaluate(() => {
        const node = document.activeElement;
        const style = getComputedStyle(node);
        return {
          id: node.id || node.textContent.trim(),
          outline: style.outlineStyle !== 'none' && Number.parseFloat(style.outlineWidth) > 0,
        };
      });
    const tabTo = async (id, key = 'Tab') => {
      await tab.keyboard.press(key);
      const now = await focused();
      assert.equal(now.id, id, `${key} reaches ${id}`);
      assert.ok(now.outline, `${id} shows that it has the focus`);
    };
    await tabTo('post-author');
    await tab.keyboard.press('ControlOrMeta+A');
    await tab.keyboard.type('keyboard');
    await tabTo('post-content');
    await tab.keyboard.type('sent without a mouse');
    await tabTo('Post');
    await tab.keyboard.press('Enter');
    await waitFor(tab, () => window.tabchain.pending().some((p) => p.content === 'sent without a mouse'), undefined, {
      what: 'the post sent from the keyboard',
    });
    await tabTo('mine-toggle');
    await tab.keyboard.press('Space');
    await waitFor(tab, () => document.querySelector('#mine-toggle').textContent === 'Stop mining', undefined, {
      what: 'mining started from the keyboard',
    });
    await waitFor(
      tab,
      () => window.tabchain.posts().some((p) => p.content === 'sent without a mouse' && p.author === 'keyboard'),
      undefined,
      { what: 'the post mined' },
    );
    await tab.keyboard.press('Space');
    await waitFor(tab, () => document.querySelector('#mine-toggle').textContent === 'Start mining', undefined, {
      what: 'mining stopped from the keyboard',
    });
    // On to the explorer (past the feed's controls), down a row, and its detail.
    const tabUntil = async (key, selector) => {
      for (let i = 0; i < 12; i++) {
        await tab.keyboard.press(key);
        if (await tab.evaluate((s) => document.activeElement.matches(s), selector)) return;
      }
      assert.fail(`${key} does not reach ${selector}`);
    };
    await tabUntil('Tab', '#explorer tbody tr');
    assert.ok((await focused()).outline, 'the focused row shows it');
    const firstRow = await tab.evaluate(() => Number(document.activeElement.dataset.height));
    await tab.keyboard.press('ArrowDown'); // the table is one Tab stop; the arrows move
    const [row, rowHeight] = await tab.evaluate(() => {
      const { hash, height } = document.activeElement.dataset;
      return [hash, Number(height)];
    });
    assert.equal(rowHeight, firstRow - 1, 'ArrowDown moves to the next (older) block');
    await tab.keyboard.press('Enter');
    const detailOf = (hash) => document.querySelector('#block-detail').textContent.includes(`"hash": "${hash}"`);
    await waitFor(tab, detailOf, row, { what: 'the block detail opened from the keyboard' });
    // New blocks (mined by the other tab) leave the focus in the table: on
    // that row, or on the oldest one when they pushed it off the page.
    const height = await tab.evaluate(() => window.tabchain.height());
    await page.evaluate(() => window.tabchain.mine(true, 1));
    await waitFor(tab, (h) => window.tabchain.height() > h, height, { what: 'a new block' });
    await page.evaluate(() => window.tabchain.mine(false));
    await tab.waitForTimeout(300); // its render
    const now = await tab.evaluate((hash) => {
      const rows = [...document.querySelectorAll('#explorer tbody tr')];
      const kept = rows.find((r) => r.dataset.hash === hash);
      return {
        inTable: rows.includes(document.activeElement),
        want: (kept || rows.at(-1)).dataset.hash,
        has: document.activeElement.dataset.hash,
      };
    }, row);
    assert.ok(now.inTable, 'the focus stays in the explorer as blocks arrive');
    assert.equal(now.has, now.want, 'on the same row, or the oldest one');
    // And back to the mining button.
    await tabUntil('Shift+Tab', '#mine-toggle');
  } finally {
    await tab.evaluate(() => window.tabchain.mine(false)).catch(() => {});
    await page.evaluate(() => window.tabchain.mine(false)).catch(() => {});
    await tab.close();
  }
});
