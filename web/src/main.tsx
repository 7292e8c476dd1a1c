import { render } from 'preact';
import { App } from './app';
// The styles, in cascade order (no inline styles: the CSP has style-src 'self').
import './styles/base.css';
import './styles/controls.css';
import './styles/views.css';
import './styles/phone.css';
import './styles/details.css';

render(<App />, document.getElementById('app')!);
