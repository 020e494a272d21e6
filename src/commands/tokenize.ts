/**
 * Splits command text into words the way a shell user expects: whitespace separates, "double" or 'single'
 * quotes keep spaces, and Slack's smart quotes count as quotes. No escapes, no expansion: it only splits.
 */
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
