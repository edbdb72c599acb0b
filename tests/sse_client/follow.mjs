// Follows one subscription over Server-Sent Events with the graphql-sse client and prints
// every result as a JSON line; used by tests/test_sse.py.
//
//   node follow.mjs '{"url": …, "query": …, "variables": {…}, "count": N, "key": …}'
//
// `changes` and `discrepancyEvents` resume from a cursor: the client re-sends the request
// object on every retry, so keeping the last cursor in its variables makes a reconnect
// after a dropped connection resume exactly where the stream stopped.
import { createClient } from "graphql-sse";

const options = JSON.parse(process.argv[2]);
const client = createClient({
  url: options.url,
  headers: options.key ? { Authorization: `Bearer ${options.key}` } : {},
  retryAttempts: 50,
  retry: () => new Promise((resolve) => setTimeout(resolve, 200)),
  on: { connected: (reconnected) => print({ connected: true, reconnected }) },
});

function print(value) {
  process.stdout.write(JSON.stringify(value) + "\n");
}

const request = { query: options.query, variables: options.variables ?? {} };
let seen = 0;
const stop = client.subscribe(request, {
  next: (result) => {
    print({ result });
    const root = result.data && Object.values(result.data)[0];
    if (root && root.cursor) request.variables.after = root.cursor;
    seen += 1;
    if (options.count && seen >= options.count) {
      stop();
      client.dispose();
    }
  },
  error: (error) => {
    print({ error: String(error && (error.message ?? error.status ?? error)) });
    process.exit(1);
  },
  complete: () => print({ complete: true }),
});
