// Preloaded into the conformance CLI (`node --import ./bearer.mjs`): the suite's client sends no
// credentials, and the gateway answers only an organization's API key. Every request to
// OMNI_CONFORMANCE_ORIGIN (fetch and undici alike: they share the global dispatcher) gets
// `Authorization: Bearer $OMNI_CONFORMANCE_KEY` unless it carries one. Nothing else changes.
import { Agent, setGlobalDispatcher } from 'undici';

const origin = process.env.OMNI_CONFORMANCE_ORIGIN;
const key = process.env.OMNI_CONFORMANCE_KEY;

function withBearer(headers) {
  const value = `Bearer ${key}`;
  if (headers == null) return { authorization: value };
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) {
      if (String(headers[i]).toLowerCase() === 'authorization') return headers;
    }
    return [...headers, 'authorization', value];
  }
  if (typeof headers[Symbol.iterator] === 'function' && typeof headers !== 'string') {
    const pairs = [...headers];
    if (pairs.some(([name]) => String(name).toLowerCase() === 'authorization')) return headers;
    return [...pairs.flat(), 'authorization', value];
  }
  if (Object.keys(headers).some((name) => name.toLowerCase() === 'authorization')) return headers;
  return { ...headers, authorization: value };
}

if (origin && key) {
  const bearer = (dispatch) => (opts, handler) => {
    const target = typeof opts.origin === 'string' ? opts.origin : String(opts.origin ?? '');
    if (target.replace(/\/$/, '') === origin) {
      opts = { ...opts, headers: withBearer(opts.headers) };
    }
    return dispatch(opts, handler);
  };
  setGlobalDispatcher(new Agent().compose(bearer));
}
