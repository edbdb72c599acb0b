// The PostGraphile 5 peer of the deep-chain benchmark (bench/peers.py starts it).
//
//   DATABASE_URL=postgresql://… NODE_OPTIONS="--require $PWD/polyfill.cjs" node server.mjs PORT
//
// Serves the `public` schema of DATABASE_URL at http://127.0.0.1:PORT/graphql with the
// stock Amber preset and simplified inflection (`subActivities`, `opd`, `payments` rather
// than `allSubActivities`, `opdByOpdId`, `paymentsBySubActivityId`). No GraphiQL, no watch
// mode, no websockets, no LISTEN connection, no explain: per request it does what the
// hub does, parse, validate, plan, query PostgreSQL, write JSON.
import { createServer } from "node:http";

import { PgSimplifyInflectionPreset } from "@graphile/simplify-inflection";
import { postgraphile } from "postgraphile";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { jsonPgSmartTags } from "postgraphile/utils";

const port = Number(process.argv[2] ?? process.env.PORT ?? 5678);
const connectionString = process.env.DATABASE_URL;
if (!connectionString || !Number.isInteger(port)) {
  console.error("usage: DATABASE_URL=postgresql://… node server.mjs PORT");
  process.exit(2);
}

// What the store's migrations do not declare, as smart tags (the store is not changed):
// - `sub_activity_rollup` is a view: no primary key, no foreign key, so PostGraphile would
//   not connect it to `sub_activity`. Its `sub_activity_id` is unique (one row per sub
//   kegiatan), so the relation is one to one: `SubActivity.subActivityRollup`.
// - Amber orders only by indexed columns; the chain orders a few lists by columns without
//   an index of their own (the hub's loaders sort on them after `sub_activity_id`).
// Every other link of the chain is a real foreign key (tender_package links packages and
// tenders with two).
const orderable = { tags: { behavior: "+orderBy" } };
const tags = jsonPgSmartTags({
  version: 1,
  config: {
    class: {
      sub_activity_rollup: {
        tags: {
          primaryKey: "sub_activity_id",
          foreignKey: "(sub_activity_id) references sub_activity (id)",
        },
      },
      indicator: { attribute: { seq: orderable } },
      payment: { attribute: { paid_on: orderable } },
      contract_amendment: { attribute: { version: orderable } },
      progress_report: { attribute: { period: orderable } },
    },
  },
});

const preset = {
  extends: [PostGraphileAmberPreset, PgSimplifyInflectionPreset],
  plugins: [tags],
  pgServices: [makePgService({ connectionString, schemas: ["public"], pubsub: false })],
  grafserv: {
    host: "127.0.0.1",
    port,
    graphqlPath: "/graphql",
    graphiql: false,
    watch: false,
    websockets: false,
  },
  grafast: { explain: false },
};

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
server.on("error", (error) => {
  console.error(error);
  process.exit(1);
});
serv.addTo(server).then(
  () => {
    server.listen(port, "127.0.0.1", () => {
      console.log(`postgraphile listening on http://127.0.0.1:${port}/graphql`);
    });
  },
  (error) => {
    console.error(error);
    process.exit(1);
  },
);

async function stop() {
  server.close();
  await pgl.release();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
