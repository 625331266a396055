import { QRCodeSVG } from 'qrcode.react';
import { useEffect, useId, useState } from 'react';
import { fetchServerInfo, reachableFromOtherDevices, type ServerInfo } from './api';

/**
 * The join link as text to copy and as a QR code for phones, with a line saying when the link
 * cannot work on another device (a loopback address) or gives a phone no WebGPU (plain HTTP).
 */

/** What the server says about itself (share URL, HTTPS); null until known or when unreachable. */
export function useServerInfo(server: string): ServerInfo | null {
  const [info, setInfo] = useState<ServerInfo | null>(null);
  useEffect(() => {
    let live = true;
    fetchServerInfo(server).then(
      (i) => live && setInfo(i),
      // an older or foreign server without /api/server: links fall back to the page's address
      () => live && setInfo(null),
    );
    return () => {
      live = false;
    };
  }, [server]);
  return info;
}

export function ShareLink({ link, info, qr = true }: { link: string; info: ServerInfo | null; qr?: boolean }) {
  const reachable = reachableFromOtherDevices(link);
  const secure = new URL(link).protocol === 'https:';
  return (
    <div className="share">
      <JoinLink link={link} />
      {qr && (
        <figure className="qr" data-testid="join-qr" data-link={link}>
          <QRCodeSVG value={link} size={168} marginSize={3} level="M" title="the join link as a QR code" />
          <figcaption>Scan to join from a phone</figcaption>
        </figure>
      )}
      {!reachable ? (
        <p className="hint" data-testid="share-hint">
          This link opens on this computer only. For phones and other computers, start the server with <code>--host 0.0.0.0</code>.
        </p>
      ) : !secure ? (
        <p className="hint" data-testid="share-hint">
          Over plain HTTP a phone trains on wasm: WebGPU needs HTTPS (<code>signvote serve --host 0.0.0.0 --https</code>).
        </p>
      ) : info?.selfSigned ? (
        <p className="hint" data-testid="share-hint">
          The certificate is self-signed: a device either accepts the warning once or installs <a href={new URL('/cert.pem', link).toString()}>the certificate</a>.
        </p>
      ) : null}
    </div>
  );
}

export function JoinLink({ link }: { link: string }) {
  const [copied, setCopied] = useState<'no' | 'yes' | 'failed'>('no');
  const id = useId();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(link);
      setCopied('yes');
    } catch {
      // clipboard needs a secure context and permission; selecting the text still lets the user copy
      (document.getElementById(id) as HTMLInputElement | null)?.select();
      setCopied('failed');
    }
  };
  return (
    <div className="join-link">
      <label htmlFor={id}>Join link</label>
      <div className="row">
        <input id={id} readOnly value={link} data-testid="join-link" onFocus={(e) => e.target.select()} />
        <button type="button" onClick={() => void copy()} data-testid="copy-link">
          {copied === 'yes' ? 'Copied' : 'Copy'}
        </button>
      </div>
      <span className="hint" aria-live="polite">
        {copied === 'failed' ? 'Clipboard unavailable: the link is selected; copy it from there.' : ''}
      </span>
    </div>
  );
}
