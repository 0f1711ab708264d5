// Detect and contain (docs/detection.md): detectors judge the audit stream against mission
// profiles and learned baselines; alerts record what they find; containment acts on it.
export { DetectionEngine, type DetectionEngineOptions } from './engine.js';
export { AlertService, type AlertServiceOptions } from './alerts.js';
export { Containment, type ContainmentAction, type ContainmentOptions } from './containment.js';
export { Notifier } from './notify.js';
export { promptFingerprinter, type Fingerprinter } from './fingerprint.js';
export { alertJson } from './view.js';
export { triage } from './triage.js';
export type { Finding, DetectorName } from './types.js';
