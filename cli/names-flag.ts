/** `--names FILE` for the commands that start a source (`up`, `source`): the class names its results carry. */
import { readNames } from "../dnn/detect/names.js";

export const namesFlag = {
  value: "FILE",
  description: "the network's class names, one a line, for its results (models/fashion/fashion.names)",
  defaultText: "COCO's or VOC's by class count, else class N",
} as const;

/** The names of --names, read before anything starts: a bad file fails at once. */
export const classNamesOf = (o: { names?: string | undefined }): { classNames?: string[] } =>
  o.names === undefined ? {} : { classNames: readNames(o.names) };
