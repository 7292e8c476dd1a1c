import type { ComponentProps, FunctionComponent } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { Chart as ChartT } from './Chart';

// uPlot and the chart code load on the first page that draws a chart (a
// separate hashed file), so the overview does not pay for them.
let loaded: typeof ChartT | null = null;
let loading: Promise<typeof ChartT> | null = null;

function load(): Promise<typeof ChartT> {
  if (!loading) loading = import('./Chart').then((m) => (loaded = m.Chart));
  return loading;
}

export const Chart: FunctionComponent<ComponentProps<typeof ChartT>> = (props) => {
  const [C, setC] = useState<typeof ChartT | null>(() => loaded);
  useEffect(() => {
    if (!C) load().then((c) => setC(() => c));
  }, []);
  if (!C)
    return (
      <figure class="chart" data-testid={props.testid}>
        <figcaption>{props.title}</figcaption>
        <p class="chart-empty muted">Loading the chart…</p>
      </figure>
    );
  return <C {...props} />;
};
