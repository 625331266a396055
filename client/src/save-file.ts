/** Hands bytes made in the page to the browser as a download named `name`. */
export function saveBytes(bytes: Uint8Array, name: string): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  // the download has taken its copy by then
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
