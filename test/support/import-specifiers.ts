import ts from 'typescript';

export interface ImportSite {
  /** The module specifier; undefined when it is computed at run time and so cannot be checked. */
  specifier: string | undefined;
  kind: 'import' | 'export' | 'import()' | 'require';
  line: number;
}

/**
 * Every place a JavaScript (or, with `language` 'ts', TypeScript) file loads another module: static imports
 * (with or without bindings, type-only ones too), re-exports, dynamic import() and require(). Parsed rather
 * than matched with a regular expression, so strings and comments that look like imports do not count and
 * multi-line imports do.
 */
export function importSites(code: string, language: 'js' | 'ts' = 'js'): ImportSite[] {
  const file = ts.createSourceFile(`module.${language}`, code, ts.ScriptTarget.Latest, true, language === 'ts' ? ts.ScriptKind.TS : ts.ScriptKind.JS);
  const sites: ImportSite[] = [];
  const add = (node: ts.Node, kind: ImportSite['kind'], specifier: ts.Node | undefined): void => {
    sites.push({
      specifier: specifier && ts.isStringLiteralLike(specifier) ? specifier.text : undefined,
      kind,
      line: file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1,
    });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) add(node, 'import', node.moduleSpecifier);
    else if (ts.isExportDeclaration(node) && node.moduleSpecifier) add(node, 'export', node.moduleSpecifier);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node, 'import()', node.arguments[0]);
    } else if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'require') {
      add(node, 'require', node.arguments[0]);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return sites;
}

/** The package a bare specifier loads: `@scope/name` or `name`, without any subpath. */
export function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return parts.slice(0, specifier.startsWith('@') ? 2 : 1).join('/');
}
