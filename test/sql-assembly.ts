/**
 * The static check behind "no SQL assembled from values" (SECURITY.md): parses
 * the TypeScript sources (the compiler's own parser, not regular expressions)
 * and reports every place where SQL text is put together from something that is
 * not known to be safe. Values reach ClickHouse only as query parameters
 * (`{name:Type}` placeholders with `query_params`) or as insert rows.
 *
 * SQL text: a template literal, or a `+` concatenation with a string literal,
 * whose literal parts contain an SQL keyword in capitals (SELECT, FROM, WHERE,
 * JOIN, INSERT INTO, CREATE/ALTER/DROP TABLE|DATABASE|VIEW, GROUP BY, ORDER BY,
 * TRUNCATE, OPTIMIZE TABLE). The code base writes its SQL keywords in capitals;
 * prose (log lines, messages) does not.
 *
 * Allowed inside SQL text (`${...}` of a template; a `+` operand):
 *   1. `<x>.table('name')` — a table name through ClickHouse.table() (database +
 *      a literal table name);
 *   2. `<x>.database`, or a `const` initialised with one — the database name,
 *      which lib/config.ts only accepts as a plain identifier;
 *   3. a `const` initialised with a string literal (e.g. a column tuple);
 *   4. a string literal, or a template / conditional (`a ? b : c`) made only of
 *      allowed parts;
 *   5. `<list>.join('<literal>')` where `<list>` is a `const` array initialised
 *      with `[]` whose every `.push(...)` in the file passes only string literals
 *      (conditions assembled from fixed clauses, e.g. `branch_id = {branch:String}`);
 *   6. `<x>.table(<parameter>)` inside a private method whose every call in the
 *      file (`this.<method>(...)`) passes a literal table name for that parameter;
 *   7. `<x>.table(<parameter>)` where the parameter's declared type is a type alias of
 *      the same file that is a union of literal table names (the compiler then holds
 *      every caller, in any file, to those names).
 * Also: `.insert({ table: ... })` must name its table with rule 1, 6 or 7.
 * Anything else — an identifier from elsewhere, a property, a call — is reported.
 */
import ts from 'typescript';

export interface SqlFinding {
  file: string;
  line: number;
  /** The offending expression's source text. */
  expression: string;
  /** The SQL text around it (shortened). */
  sql: string;
}

const SQL_KEYWORDS =
  /\b(SELECT|FROM|WHERE|JOIN|PREWHERE|HAVING|INSERT\s+INTO|GROUP\s+BY|ORDER\s+BY|TRUNCATE|OPTIMIZE\s+TABLE|(?:CREATE|ALTER|DROP|RENAME)\s+(?:TABLE|DATABASE|VIEW|MATERIALIZED\s+VIEW|DICTIONARY|USER|ROLE))\b/;
const TABLE_NAME = /^[a-z_][a-z0-9_]*$/;

const isStringLiteral = (n: ts.Node): n is ts.StringLiteral | ts.NoSubstitutionTemplateLiteral =>
  ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n);

const unwrap = (n: ts.Expression): ts.Expression =>
  ts.isParenthesizedExpression(n) || ts.isAsExpression(n) || ts.isNonNullExpression(n)
    ? unwrap(n.expression)
    : n;

function literalText(t: ts.TemplateExpression): string {
  return [t.head.text, ...t.templateSpans.map((s) => s.literal.text)].join(' ');
}

export interface ScanResult {
  findings: SqlFinding[];
  /** SQL texts (templates and concatenations) examined. */
  checked: number;
}

export function scanSource(file: string, text: string): ScanResult {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const findings: SqlFinding[] = [];
  let checked = 0;

  // const declarations of the file, by name (a name declared twice is not trusted).
  const consts = new Map<string, ts.VariableDeclaration | null>();
  const pushes = new Map<string, ts.CallExpression[]>();
  const reassigned = new Set<string>();
  const collect = (n: ts.Node): void => {
    if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name)) {
      const isConst = (ts.getCombinedNodeFlags(n) & ts.NodeFlags.Const) !== 0;
      const name = n.name.text;
      consts.set(name, consts.has(name) || !isConst ? null : n);
    }
    if (
      ts.isCallExpression(n) &&
      ts.isPropertyAccessExpression(n.expression) &&
      ts.isIdentifier(n.expression.expression)
    ) {
      const method = n.expression.name.text;
      const target = n.expression.expression.text;
      if (method === 'push' || method === 'unshift' || method === 'splice') {
        const list = pushes.get(target) ?? [];
        list.push(n);
        pushes.set(target, list);
      }
    }
    if (
      ts.isBinaryExpression(n) &&
      n.operatorToken.kind >= ts.SyntaxKind.FirstAssignment &&
      n.operatorToken.kind <= ts.SyntaxKind.LastAssignment
    ) {
      const left = unwrap(n.left);
      if (ts.isIdentifier(left)) reassigned.add(left.text);
      if (ts.isElementAccessExpression(left) && ts.isIdentifier(left.expression))
        reassigned.add(left.expression.text);
    }
    ts.forEachChild(n, collect);
  };
  collect(sf);

  const constInit = (id: ts.Identifier): ts.Expression | undefined => {
    const d = consts.get(id.text);
    return d && !reassigned.has(id.text) ? d.initializer : undefined;
  };

  const isTableCall = (e: ts.Expression): boolean => {
    if (
      !ts.isCallExpression(e) ||
      !ts.isPropertyAccessExpression(e.expression) ||
      e.expression.name.text !== 'table' ||
      e.arguments.length !== 1
    )
      return false;
    const arg = e.arguments[0]!;
    return (
      (isStringLiteral(arg) && TABLE_NAME.test(arg.text)) ||
      isLiteralTableParameter(arg) ||
      isTableNameTypedParameter(arg)
    );
  };

  // rule 7: a parameter declared with a same-file type alias that is a union of literal table names.
  const isTableNameTypedParameter = (arg: ts.Expression): boolean => {
    if (!ts.isIdentifier(arg) || reassigned.has(arg.text)) return false;
    // The nearest enclosing function that declares it (the use may sit in a callback inside).
    let param: ts.ParameterDeclaration | undefined;
    for (let n: ts.Node | undefined = arg.parent; n && !param; n = n.parent)
      if (ts.isFunctionLike(n))
        param = n.parameters.find((p) => ts.isIdentifier(p.name) && p.name.text === arg.text);
    const type = param?.type;
    if (!type || !ts.isTypeReferenceNode(type) || !ts.isIdentifier(type.typeName)) return false;
    const aliasName = type.typeName.text;
    const alias = sf.statements.find(
      (st): st is ts.TypeAliasDeclaration => ts.isTypeAliasDeclaration(st) && st.name.text === aliasName,
    );
    if (!alias) return false;
    const members = ts.isUnionTypeNode(alias.type) ? alias.type.types : [alias.type];
    return members.every(
      (m) => ts.isLiteralTypeNode(m) && ts.isStringLiteral(m.literal) && TABLE_NAME.test(m.literal.text),
    );
  };

  // rule 6: a parameter of a private method that every call in the file fills with a literal table name.
  const isLiteralTableParameter = (arg: ts.Expression): boolean => {
    if (!ts.isIdentifier(arg)) return false;
    let fn: ts.Node | undefined = arg.parent;
    while (fn && !ts.isMethodDeclaration(fn)) fn = fn.parent;
    if (!fn || !ts.isMethodDeclaration(fn) || !ts.isIdentifier(fn.name)) return false;
    if (!fn.modifiers?.some((m) => m.kind === ts.SyntaxKind.PrivateKeyword)) return false;
    const index = fn.parameters.findIndex((p) => ts.isIdentifier(p.name) && p.name.text === arg.text);
    if (index < 0 || reassigned.has(arg.text)) return false;
    const method = fn.name.text;
    const calls: ts.CallExpression[] = [];
    let otherUse = false;
    const find = (n: ts.Node): void => {
      if (
        ts.isPropertyAccessExpression(n) &&
        n.expression.kind === ts.SyntaxKind.ThisKeyword &&
        n.name.text === method
      ) {
        if (ts.isCallExpression(n.parent) && n.parent.expression === n) calls.push(n.parent);
        else otherUse = true; // passed around: its callers are unknown
      }
      ts.forEachChild(n, find);
    };
    find(sf);
    return (
      !otherUse &&
      calls.length > 0 &&
      calls.every((c) => {
        const a = c.arguments[index];
        return a !== undefined && isStringLiteral(a) && TABLE_NAME.test(a.text);
      })
    );
  };

  const isDatabase = (e: ts.Expression): boolean =>
    ts.isPropertyAccessExpression(e) && e.name.text === 'database';

  const safe = (raw: ts.Expression, depth = 0): boolean => {
    const e = unwrap(raw);
    if (depth > 8) return false;
    if (isStringLiteral(e) || ts.isNumericLiteral(e)) return true; // rule 4
    if (isTableCall(e)) return true; // rule 1
    if (isDatabase(e)) return true; // rule 2
    if (ts.isIdentifier(e)) {
      const init = constInit(e);
      if (!init) return false;
      const i = unwrap(init);
      return isStringLiteral(i) || isDatabase(i) || isTableCall(i); // rules 2, 3
    }
    if (ts.isTemplateExpression(e)) return e.templateSpans.every((s) => safe(s.expression, depth + 1)); // rule 4
    if (ts.isConditionalExpression(e)) return safe(e.whenTrue, depth + 1) && safe(e.whenFalse, depth + 1); // rule 4
    if (ts.isBinaryExpression(e) && e.operatorToken.kind === ts.SyntaxKind.PlusToken)
      return safe(e.left, depth + 1) && safe(e.right, depth + 1);
    // rule 5: list.join('literal') over a const [] that only ever receives string literals.
    if (
      ts.isCallExpression(e) &&
      ts.isPropertyAccessExpression(e.expression) &&
      e.expression.name.text === 'join' &&
      ts.isIdentifier(e.expression.expression) &&
      e.arguments.every((a) => isStringLiteral(a))
    ) {
      const list = e.expression.expression;
      const init = constInit(list);
      if (!init || !ts.isArrayLiteralExpression(unwrap(init))) return false;
      if (!(unwrap(init) as ts.ArrayLiteralExpression).elements.every((x) => isStringLiteral(x)))
        return false;
      return (pushes.get(list.text) ?? []).every(
        (call) =>
          call.expression.getText(sf).endsWith('.push') && call.arguments.every((a) => isStringLiteral(a)),
      );
    }
    return false;
  };

  const report = (node: ts.Node, expression: ts.Node, sql: string): void => {
    findings.push({
      file,
      line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1,
      expression: expression.getText(sf),
      sql: sql.replace(/\s+/g, ' ').trim().slice(0, 160),
    });
  };

  const visit = (n: ts.Node): void => {
    if (ts.isTemplateExpression(n) && SQL_KEYWORDS.test(literalText(n))) {
      checked++;
      for (const span of n.templateSpans)
        if (!safe(span.expression)) report(span.expression, span.expression, n.getText(sf));
    }
    if (ts.isBinaryExpression(n) && n.operatorToken.kind === ts.SyntaxKind.PlusToken) {
      const sides = [unwrap(n.left), unwrap(n.right)];
      const sqlSide = sides.find(
        (x) =>
          (isStringLiteral(x) && SQL_KEYWORDS.test(x.text)) ||
          (ts.isTemplateExpression(x) && SQL_KEYWORDS.test(literalText(x))),
      );
      if (sqlSide) checked++;
      if (sqlSide)
        for (const other of sides) if (other !== sqlSide && !safe(other)) report(other, other, n.getText(sf));
    }
    // .insert({ table: ... }): the table through ClickHouse.table('name').
    if (
      ts.isCallExpression(n) &&
      ts.isPropertyAccessExpression(n.expression) &&
      n.expression.name.text === 'insert'
    ) {
      const arg = n.arguments[0];
      if (arg && ts.isObjectLiteralExpression(arg)) {
        for (const p of arg.properties) {
          if (ts.isPropertyAssignment(p) && p.name.getText(sf) === 'table' && !safe(p.initializer))
            report(p, p.initializer, n.getText(sf));
        }
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return { findings, checked };
}
