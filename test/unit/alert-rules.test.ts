/**
 * The shipped alert rules, checked by Prometheus's own tool: they parse, and each alert fires (and stays quiet) as
 * its unit tests on made-up series say (deploy/prometheus/alerts.test.yml). promtool comes from Debian's prometheus
 * package, as CI installs it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { resolvePrometheusTool } from '../../local/prometheus';

const run = promisify(execFile);
const RULES_DIR = path.resolve(__dirname, '../../deploy/prometheus');

interface Rule {
  alert?: string;
  annotations?: Record<string, string>;
}
const readYaml = (file: string) => parse(readFileSync(path.join(RULES_DIR, file), 'utf8')) as unknown;
const rules = (readYaml('alerts.yml') as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

describe('the alert rules', () => {
  test('pass promtool check rules, each alert with a one-line reason', async () => {
    const promtool = await resolvePrometheusTool('promtool');
    const { stdout } = await run(promtool, ['check', 'rules', 'alerts.yml'], { cwd: RULES_DIR });
    assert.match(stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
    for (const rule of rules) {
      const reason = rule.annotations?.reason ?? '';
      assert.ok(reason.length > 0 && !reason.includes('\n'), `${rule.alert ?? '?'} has a one-line reason`);
    }
  });

  test('each alert has a unit test', () => {
    const tests = readYaml('alerts.test.yml') as { tests: { alert_rule_test: { alertname: string }[] }[] };
    const tested = new Set(tests.tests.flatMap((t) => t.alert_rule_test.map((a) => a.alertname)));
    const untested = rules.map((r) => r.alert).filter((name) => name !== undefined && !tested.has(name));
    assert.deepEqual(untested, []);
  });

  test('fire and stay quiet as their unit tests on made-up series expect', async () => {
    const promtool = await resolvePrometheusTool('promtool');
    const result = await run(promtool, ['test', 'rules', 'alerts.test.yml'], { cwd: RULES_DIR }).catch(
      (error: { stdout?: string; stderr?: string }) => {
        assert.fail(`promtool test rules failed:\n${error.stdout ?? ''}${error.stderr ?? ''}`);
      },
    );
    assert.match(result.stdout, /SUCCESS/);
  });
});
