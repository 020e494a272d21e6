/**
 * Splits command text into words the way a shell user expects: whitespace separates, "double" or 'single'
 * quotes keep spaces, and Slack's smart quotes count as quotes. No escapes, no expansion: it only splits.
 */
/**
 * The first `count` whitespace-separated words, then the rest of the text as it was typed (one more word,
 * absent when empty): for commands whose last argument is prose, where quotes and apostrophes are the
 * user's text ("it's down"), not grouping.
 */
export function splitLeading(text: string, count: number): string[] {
  const words: string[] = [];
  let rest = text.trim();
  while (words.length < count && rest.length > 0) {
    const end = rest.search(/\s/);
    words.push(end === -1 ? rest : rest.slice(0, end));
    rest = end === -1 ? '' : rest.slice(end).trim();
  }
  if (rest.length > 0) words.push(rest);
  return words;
}

export function tokenize(text: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let quote: string | null = null;
  for (const ch of text.replace(/[\u201C\u201D]/g, '"').replace(/[\u2018\u2019]/g, "'")) {
    if (quote) {
      if (ch === quote) quote = null;
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(current);
  return words;
}
