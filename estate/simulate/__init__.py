"""The demo's legacy estate at work: a simulator that keeps changing the sources as offices do.

`Simulator` reads `estate-manifest.json` of an estate written by `generate_estate` and, one
committed change per `step()`, makes the running (latest) fiscal year move on:

- **payment** (BPKAD, table `sp2d`): a further term on a signed contract that is not fully
  paid (payee and NPWP of the contract's vendor, sub-activity and account of its package's
  mak), or now and then a GU payment on a non-procurement DPA line;
- **monev** (Form A workbook of one OPD): a sub-activity's latest physical and financial
  progress goes up, or its next quarter's row is filed; the file is replaced atomically;
- **tender_announced** (SiRUP/SPSE): a package planned for SPSE (Tender, Seleksi, Tender
  Cepat) with no tender gets one: the running tender (HPS 90–99% of the pagu), its link to
  the package, the bid schedule, 2–5 evaluated bids with distinct amounts (nobody the winner
  yet). A generated estate has no such package left, so the change usually publishes one
  first: a further package on a mak that has a Tender/Seleksi package announced by Q3, with
  its OPD, category and funding, within 97% of the DPA line. The tender reaches SPSE's
  database with its bids evaluated: it was announced 17–44 days back (window 16–30 days,
  closed 1–14 days ago), so a result can follow within days of simulated time;
- **tender_result** (SPSE): a running tender gets its winner (the lowest corrected bid),
  its status, and the contract row, signed today where it can be (otherwise the last day
  it could be signed cleanly);
- **amendment** (SPSE): an addendum of −5%…+8% of a running contract's signed value.

Every change stays clear of the thresholds of the rules in README.md: it neither creates a
ketimpangan nor resolves a seeded one (payments stay at most 85% of the effective value
until the sub-activity reports ≥ 80% and the contract ended five days ago; progress is
only raised where it is on schedule; tenders follow their package, with its method, ≥ 2
distinct bids and a bid window of 16–30 days; contracts are signed 2–12% under HPS, 21–55
days after the announcement, by 13 December so they end by the 20th; addenda keep what was
paid under 85%).

Time in the estate is a simulated office clock (WITA, like every legacy timestamp): it
starts at the estate's `as_of` (or the newest change already in the sources) and moves a few
minutes per step through office hours on working days, never past 31 December of the
running year for business dates. Every SQL change sets its table's watermark column (named
in the source's mapping file) to the later of that clock and the table's largest value plus
one second, so watermarks strictly increase. Choices come from `random.Random(seed)` and
from the estate's content only, so a seed replays the same changes on a fresh estate.

`simulator` holds the clock, the choice of change and the run loop; each change is in the
module of the legacy system it writes to: `finance` (BPKAD), `monev` (the workbooks), `sirup`
and `spse` (BPBJ). `sources` reads the manifest and connects to the sources, `reads` holds
what several changes read, `formats` the values as each flavour writes them.
"""

from estate.simulate.change import SimChange, SimulatorError
from estate.simulate.simulator import Simulator

__all__ = ["SimChange", "Simulator", "SimulatorError"]
