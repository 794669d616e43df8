// A picture of a key id: a 5×5 mirrored grid whose cells and colour come from
// the id's 64 bits, so two keys that share a name look different at a glance
// (the id itself stays next to it for a careful check). Built with DOM calls
// only: the id is hostile input, though it is hex by construction.

const SVG = 'http://www.w3.org/2000/svg';

/** An inline SVG identicon for a 16-hex-digit key id (`null` for anything else). */
export function identicon(keyId) {
  if (typeof keyId !== 'string' || !/^[0-9a-f]{16}$/.test(keyId)) return null;
  const bits = BigInt(`0x${keyId}`);
  const hue = Number(bits >> 52n) % 360;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 5 5');
  svg.setAttribute('class', 'identicon');
  svg.setAttribute('aria-hidden', 'true');
  const back = document.createElementNS(SVG, 'rect');
  back.setAttribute('width', '5');
  back.setAttribute('height', '5');
  back.setAttribute('fill', `hsl(${hue} 30% 92%)`);
  svg.append(back);
  // 15 cells decide the left three columns; the right two mirror them.
  for (let row = 0; row < 5; row++) {
    for (let col = 0; col < 3; col++) {
      if (((bits >> BigInt(row * 3 + col)) & 1n) === 0n) continue;
      for (const x of col === 2 ? [2] : [col, 4 - col]) {
        const cell = document.createElementNS(SVG, 'rect');
        cell.setAttribute('x', String(x));
        cell.setAttribute('y', String(row));
        cell.setAttribute('width', '1');
        cell.setAttribute('height', '1');
        cell.setAttribute('fill', `hsl(${hue} 60% 40%)`);
        svg.append(cell);
      }
    }
  }
  return svg;
}
