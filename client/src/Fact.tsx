/** One labelled fact of a session; tests read its raw value from `data-value` (docs/client.md). */
export function Fact({ label, value, raw, testId, title, mono, note }: { label: string; value: string; raw: string | number; testId: string; title?: string; mono?: boolean; note?: string }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd data-testid={testId} data-value={raw} title={title} className={mono ? 'mono' : undefined}>
        {value}
      </dd>
      {note && (
        <dd className="hint" data-testid={`${testId}-reason`}>
          {note}
        </dd>
      )}
    </div>
  );
}
