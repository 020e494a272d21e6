import { describe, expect, it } from 'vitest';
import { splitLeading, tokenize } from '../../src/commands/tokenize.js';

describe('tokenize', () => {
  it('splits plain words on whitespace', () => {
    expect(tokenize('deploy api prod')).toEqual(['deploy', 'api', 'prod']);
  });

  it('treats runs of spaces, tabs and newlines as one separator and ignores leading/trailing space', () => {
    expect(tokenize('  restart   api\t\tnow \n')).toEqual(['restart', 'api', 'now']);
  });

  it('returns no words for empty or blank text', () => {
    expect(tokenize('')).toEqual([]);
    expect(tokenize('   \t ')).toEqual([]);
  });

  it('keeps spaces inside double quotes as one word', () => {
    expect(tokenize('note "database is slow" now')).toEqual(['note', 'database is slow', 'now']);
  });

  it('keeps spaces inside single quotes as one word', () => {
    expect(tokenize("note 'two  spaces' end")).toEqual(['note', 'two  spaces', 'end']);
  });

  it('allows the other kind of quote inside a quoted word', () => {
    expect(tokenize(`say "it's fine" 'the "real" one'`)).toEqual(['say', "it's fine", 'the "real" one']);
  });

  it('joins a quoted part with adjacent unquoted characters into one word', () => {
    expect(tokenize('--reason="disk full" x')).toEqual(['--reason=disk full', 'x']);
  });

  it('treats Slack smart double quotes like straight double quotes', () => {
    expect(tokenize('silence \u201Chigh cpu alert\u201D 1h')).toEqual(['silence', 'high cpu alert', '1h']);
  });

  it('treats Slack smart single quotes like straight single quotes', () => {
    expect(tokenize('note \u2018a b\u2019 c')).toEqual(['note', 'a b', 'c']);
  });

  it('lets a smart quote close a straight quote of the same kind (both normalise to ")', () => {
    expect(tokenize('x "a b\u201D y')).toEqual(['x', 'a b', 'y']);
  });

  it('turns empty quotes into an empty word instead of dropping it', () => {
    expect(tokenize('set reason "" now')).toEqual(['set', 'reason', '', 'now']);
    expect(tokenize("''")).toEqual(['']);
    expect(tokenize('\u201C\u201D')).toEqual(['']);
  });

  it('takes the rest of the text as one word when a quote is never closed', () => {
    expect(tokenize('note "never closed  here')).toEqual(['note', 'never closed  here']);
  });

  it('produces an empty word for a lone opening quote at the end', () => {
    expect(tokenize('note "')).toEqual(['note', '']);
  });
});

describe('splitLeading', () => {
  it('keeps the rest of the text as typed: quotes, apostrophes and inner spacing are the user’s', () => {
    expect(splitLeading('  note  #12   It\'s "the" DB  pool ', 2)).toEqual(['note', '#12', 'It\'s "the" DB  pool']);
  });

  it('gives fewer words when the text is short, and no empty rest', () => {
    expect(splitLeading('note #12', 2)).toEqual(['note', '#12']);
    expect(splitLeading('note', 2)).toEqual(['note']);
    expect(splitLeading('', 2)).toEqual([]);
  });
});
