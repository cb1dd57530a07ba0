/**
 * A bar chart with Chart.js (maintained, canvas-drawn), always beside a table of the same numbers: the canvas is
 * an image to the screen reader, named by a summary of what it shows.
 */
import { useEffect, useRef } from 'preact/hooks';
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip } from 'chart.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

/** Colours with contrast on white, told apart without colour too (legend order, table). */
export const PALETTE = ['#1f4e79', '#b8461b', '#5b3a8c', '#2f6b3a', '#8a6d00'];

export interface Series {
  label: string;
  values: number[];
}

export function BarChart(props: {
  labels: string[];
  series: Series[];
  summary: string;
  stacked?: boolean;
  horizontal?: boolean;
  max?: number;
  testId?: string;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const chart = useRef<Chart<'bar'> | null>(null);
  useEffect(() => {
    if (canvas.current === null) return undefined;
    chart.current = new Chart(canvas.current, {
      type: 'bar',
      data: { labels: [], datasets: [] },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        indexAxis: props.horizontal === true ? 'y' : 'x',
        plugins: { legend: { display: props.series.length > 1, position: 'bottom' } },
        scales: {
          x: {
            stacked: props.stacked === true,
            ...(props.horizontal === true && props.max !== undefined ? { max: props.max } : {}),
          },
          y: {
            stacked: props.stacked === true,
            beginAtZero: true,
            // Counts of leads are whole numbers: no 0.2 ticks.
            ticks: { precision: 0 },
            ...(props.horizontal !== true && props.max !== undefined ? { max: props.max } : {}),
          },
        },
      },
    });
    return () => chart.current?.destroy();
  }, [props.stacked, props.horizontal, props.max]);
  useEffect(() => {
    const current = chart.current;
    if (current === null) return;
    current.data.labels = props.labels;
    current.data.datasets = props.series.map((s, i) => ({
      label: s.label,
      data: s.values,
      backgroundColor: PALETTE[i % PALETTE.length],
    }));
    current.update();
  }, [props.labels, props.series]);
  return (
    <div class="chart">
      <canvas ref={canvas} role="img" aria-label={props.summary} data-testid={props.testId} />
    </div>
  );
}
