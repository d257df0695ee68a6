// Translating a third-party widget that has no translate service: an observer swaps a text
// node, or a title/placeholder/aria-label, whose whole trimmed text is a known phrase. Only the
// widget's own parts (chrome) are looked at, never what a person typed inside them (typed).
const ATTRIBUTES = ["title", "placeholder", "aria-label"];

// phrases: {english: translation}; patterns: [[RegExp, replacement]] for phrases with a part
// filled in; chrome, typed: CSS selectors.
export function translateWhereShown(container, { phrases, patterns = [], chrome, typed = null }) {
  function translated(text) {
    const phrase = text.trim();
    let result = phrases[phrase];
    for (const [pattern, replacement] of patterns) {
      if (result === undefined && pattern.test(phrase)) result = phrase.replace(pattern, replacement);
    }
    return phrase && result !== undefined && result !== phrase ? text.replace(phrase, () => result) : null;
  }

  const isChrome = (element) => Boolean(element?.closest(chrome)) && !(typed && element.closest(typed));

  function translateText(node) {
    const result = isChrome(node.parentElement) && translated(node.data);
    if (result) node.data = result;
  }

  function translateAttributes(element) {
    if (!isChrome(element)) return;
    for (const name of ATTRIBUTES) {
      const result = element.hasAttribute(name) && translated(element.getAttribute(name));
      if (result) element.setAttribute(name, result);
    }
  }

  function translateTree(root) {
    if (root.nodeType === Node.TEXT_NODE) return translateText(root);
    if (root.nodeType !== Node.ELEMENT_NODE) return;
    // Most additions are the drawing's own (a dragged shape): one native lookup, not a walk.
    if (!root.closest(chrome) && !root.querySelector(chrome)) return;
    translateAttributes(root);
    for (const element of root.querySelectorAll(ATTRIBUTES.map((name) => `[${name}]`).join(","))) translateAttributes(element);
    const texts = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    while (texts.nextNode()) translateText(texts.currentNode);
  }

  // Preact and plain DOM code alike write a text node or an attribute again only when its own
  // value changes, so a translated one stays until another phrase is shown there, which the
  // observer then sees.
  translateTree(container);
  new MutationObserver((mutations) => {
    for (const mutation of mutations) {
      if (mutation.type === "childList") mutation.addedNodes.forEach(translateTree);
      else if (mutation.type === "characterData") translateText(mutation.target);
      else translateAttributes(mutation.target);
    }
  }).observe(container, { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ATTRIBUTES });
}
