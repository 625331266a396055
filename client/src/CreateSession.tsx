import { useState, type ReactNode } from 'react';
import { createSession, peerCommand, shareLink } from './api';
import { OwnModelData, type OwnChoice, type OwnProblem } from './OwnModelData';
import {
  algorithmLabels,
  algorithmNames,
  datasetNames,
  defaultForm,
  fieldLabels,
  formToConfig,
  modelNames,
  partitionKinds,
  tieRules,
  scheduleKinds,
  type FieldErrors,
  type FieldName,
  type FormState,
} from './form';
import { rememberSession } from './known-sessions';
import { plural } from './session-text';
import { ShareLink, useServerInfo } from './ShareLink';

interface Props {
  readonly server: string;
  readonly onOpen: (link: string) => void;
}

const noOwn: { choice: OwnChoice; problem: OwnProblem | null } = { choice: {}, problem: null };

/** Which hyper-parameters an algorithm reads, so the form can say which ones matter. */
const uses: Record<string, readonly FieldName[]> = {
  'sgd-m': ['theta'],
  signsgd: [],
  'signsgd-sim': ['theta'],
  'double-momentum': ['theta', 'alpha'],
  'mv-signsgd': [],
  'mv-sto-signsgd': ['R'],
  'mv-sto-signsgd-sim': ['theta', 'R', 'alpha'],
  'fed-mv-sto-signsgd-sim': ['theta', 'R', 'alpha', 'K', 'eta'],
  'ef-signsgd': [],
};

export function CreateSession({ server, onOpen }: Props) {
  const [form, setForm] = useState<FormState>(defaultForm);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const [created, setCreated] = useState<{ id: string; token: string } | null>(null);
  const [listed, setListed] = useState(false);
  const info = useServerInfo(server);
  // what OwnModelData last reported; forgotten whenever it mounts afresh (it then shows nothing)
  const [own, setOwn] = useState<{ choice: OwnChoice; problem: OwnProblem | null }>(noOwn);
  const [ownKey, setOwnKey] = useState(0);

  const set = <K extends FieldName>(name: K, value: FormState[K]) => {
    setForm((f) => ({ ...f, [name]: value }));
    // an error is about the old value; drop it as soon as the user edits that field
    setErrors((e) => (e[name] ? { ...e, [name]: undefined } : e));
  };

  const submit = async () => {
    setFailure(null);
    const result = formToConfig(form);
    if (!result.ok) {
      setErrors(result.errors);
      const first = Object.keys(result.errors)[0];
      if (first) document.getElementById(`field-${first}`)?.focus();
      return;
    }
    // an upload that failed must not leave the session on the form's preset model
    if (own.problem) {
      document.getElementById(`field-${own.problem.field}`)?.focus();
      return;
    }
    setErrors({});
    setBusy(true);
    try {
      const made = await createSession({ ...result.config, ...own.choice }, server, listed);
      rememberSession(made.id, made.token, { admin: made.admin });
      setCreated({ id: made.id, token: made.token });
    } catch (err) {
      setFailure((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const used = uses[form.algorithm] ?? [];
  const hint = (f: FieldName) => (used.includes(f) ? undefined : `not used by ${form.algorithm}`);
  const num = (name: FieldName, extra?: { step?: string; hint?: string }) => (
    <Field name={name} error={errors[name]} hint={extra?.hint}>
      {(id, describedBy) => (
        <input
          id={id}
          name={name}
          inputMode="decimal"
          value={form[name]}
          aria-invalid={errors[name] ? true : undefined}
          aria-describedby={describedBy}
          onChange={(e) => set(name, e.target.value)}
        />
      )}
    </Field>
  );
  const select = <K extends FieldName>(name: K, options: readonly string[], label?: (o: string) => string) => (
    <Field name={name} error={errors[name]}>
      {(id, describedBy) => (
        <select
          id={id}
          name={name}
          value={form[name]}
          aria-invalid={errors[name] ? true : undefined}
          aria-describedby={describedBy}
          onChange={(e) => set(name, e.target.value as FormState[K])}
        >
          {options.map((o) => (
            <option key={o} value={o}>
              {label ? label(o) : o}
            </option>
          ))}
        </select>
      )}
    </Field>
  );

  if (created) {
    const link = shareLink(window.location.href, info, created.id, created.token);
    return (
      <section className="panel created" aria-labelledby="created-title">
        <h1 id="created-title">Session created</h1>
        <p>Open this link in other tabs or on other machines; each one joins as a peer. Training starts once {plural(form.expectedPeers, 'peer')} {Number(form.expectedPeers) === 1 ? 'is' : 'are'} in, or earlier when you press <b>Start now</b> in the session view (this browser keeps the session's creator key).</p>
        <ShareLink link={link} info={info} />
        <p>Headless Node peer, from a checkout of signvote:</p>
        <pre className="command" data-testid="cli-command">
          {peerCommand(new URL(link).origin, created.id, created.token, info)}
        </pre>
        <div className="actions">
          <button type="button" className="primary" onClick={() => onOpen(link)} data-testid="open-session">
            Join this session
          </button>
          <button
            type="button"
            onClick={() => {
              // the form's fields stay; the model and data fields come back empty, and so does their choice
              setOwn(noOwn);
              setCreated(null);
            }}
          >
            Create another
          </button>
        </div>
      </section>
    );
  }

  return (
    <form
      className="panel create"
      aria-labelledby="create-title"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <h1 id="create-title">Create a training session</h1>
      <p className="lede">Defaults are the paper's MNIST setting (MLP 784-64-64-10, lr 10⁻³, R = 10⁻³, θ = 0.9).</p>
      <fieldset>
        <legend>Task</legend>
        {select('model', modelNames)}
        {select('dataset', datasetNames)}
        {select('partition', partitionKinds, (o) => (o === 'iid' ? 'IID (shuffled evenly)' : 'Dirichlet (non-IID)'))}
        {form.partition === 'dirichlet' && num('dirichletAlpha', { hint: 'smaller is more skewed' })}
        {num('seed')}
      </fieldset>
      <fieldset>
        <legend>Algorithm</legend>
        {select('algorithm', algorithmNames, (o) => algorithmLabels[o as keyof typeof algorithmLabels])}
        {num('lr')}
        {select('schedule', scheduleKinds)}
        {form.schedule === 'step' && num('milestones', { hint: 'e.g. 100, 200' })}
        {form.schedule === 'step' && num('factor')}
        {form.schedule === 'exponential' && num('rate')}
        {num('weightDecay')}
        {num('theta', { hint: hint('theta') })}
        {num('R', { hint: hint('R') })}
        {num('alpha', { hint: hint('alpha') ?? 'θ/(1−θ) gives double momentum' })}
        {num('K', { hint: hint('K') })}
        {num('eta', { hint: hint('eta') })}
        {select('ties', tieRules, (o) => (o === 'coin' ? 'Coin flip (1 bit down)' : 'Zero, the paper (tie bitmap down)'))}
      </fieldset>
      <fieldset>
        <legend>Session</legend>
        {num('expectedPeers', { hint: 'training starts when this many have joined' })}
        {num('voteShards', { hint: '1: one aggregator tallies all; k: k members each tally a range, so no link carries every ballot' })}
        {num('batchSize')}
        {num('rounds')}
        {num('deadlineMs', { hint: 'the aggregator tallies what arrived by then' })}
        {num('evalEvery', { hint: '0 turns test evaluation off' })}
        <div className="field check">
          <label>
            <input type="checkbox" checked={listed} onChange={(e) => setListed(e.target.checked)} data-testid="listed" /> List it on this server's home page
          </label>
          <span className="hint">anyone who opens this server can then join; unlisted sessions need the link</span>
        </div>
        <Field name="iceServers" error={errors.iceServers} hint="one per line: urls [username credential]; none needed on one machine or LAN">
          {(id, describedBy) => (
            <textarea
              id={id}
              name="iceServers"
              rows={2}
              placeholder="stun:stun.example.org:3478"
              value={form.iceServers}
              aria-invalid={errors.iceServers ? true : undefined}
              aria-describedby={describedBy}
              onChange={(e) => set('iceServers', e.target.value)}
            />
          )}
        </Field>
      </fieldset>
      <OwnModelData key={ownKey} server={server} onChange={(choice, problem) => setOwn({ choice, problem })} />
      {failure && (
        <p className="error" role="alert" data-testid="create-error">
          Could not create the session: {failure}
        </p>
      )}
      {Object.values(errors).some(Boolean) && (
        <p className="error" role="alert">
          Some fields need fixing (marked below their labels).
        </p>
      )}
      <div className="actions">
        <button type="submit" className="primary" disabled={busy} data-testid="create-session">
          {busy ? 'Creating…' : 'Create session'}
        </button>
        <button
          type="button"
          onClick={() => {
            setForm(defaultForm());
            setErrors({});
            setFailure(null);
            setListed(false);
            setOwn(noOwn);
            setOwnKey((k) => k + 1);
          }}
        >
          Reset to defaults
        </button>
      </div>
    </form>
  );
}

function Field({
  name,
  error,
  hint,
  children,
}: {
  name: FieldName;
  error?: string;
  hint?: string;
  children: (id: string, describedBy: string | undefined) => ReactNode;
}) {
  const id = `field-${name}`;
  const errorId = `${id}-error`;
  const hintId = `${id}-hint`;
  const describedBy = [error ? errorId : null, hint ? hintId : null].filter(Boolean).join(' ') || undefined;
  return (
    <div className={error ? 'field invalid' : 'field'}>
      <label htmlFor={id}>{fieldLabels[name]}</label>
      {children(id, describedBy)}
      {error && (
        <span className="field-error" id={errorId} data-testid={`error-${name}`}>
          {error}
        </span>
      )}
      {hint && !error && (
        <span className="hint" id={hintId}>
          {hint}
        </span>
      )}
    </div>
  );
}
