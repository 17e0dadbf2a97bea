/**
 * Payments accept gateway tokens only. A body that carries what looks like card data is refused
 * before it is stored or logged, so a client mistake cannot put a card number in our database.
 */
const CARD_FIELD = /^(pan|number|card_?number|cardnumber|cvc|cvv|cvc2|cvv2|cid|security_?code|card)$/i;
/** 12 to 19 digits, possibly grouped by spaces or dashes: the shape of a primary account number. */
const PAN_LIKE = /^(?:\d[ -]?){12,18}\d$/;
const DEPTH_MAX = 8;
const NODES_MAX = 2000;

/** The path of the first field that looks like card data, or undefined when there is none. */
export function findCardData(value: unknown): string | undefined {
  let nodes = 0;
  const visit = (v: unknown, path: string, depth: number): string | undefined => {
    nodes += 1;
    if (nodes > NODES_MAX || depth > DEPTH_MAX) return undefined;
    if (typeof v === 'string') return PAN_LIKE.test(v.trim()) ? path || '/' : undefined;
    if (Array.isArray(v)) {
      for (const [i, item] of v.entries()) {
        const found = visit(item, `${path}/${i}`, depth + 1);
        if (found) return found;
      }
      return undefined;
    }
    if (v !== null && typeof v === 'object') {
      for (const [key, item] of Object.entries(v)) {
        if (CARD_FIELD.test(key)) return `${path}/${key}`;
        const found = visit(item, `${path}/${key}`, depth + 1);
        if (found) return found;
      }
    }
    return undefined;
  };
  return visit(value, '', 0);
}
